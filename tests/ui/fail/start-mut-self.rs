struct Db {
    connected: bool,
}

#[lifecycle::component]
impl Db {
    #[on_start]
    async fn connect(&mut self) {
        self.connected = true;
    }
}

fn main() {}
