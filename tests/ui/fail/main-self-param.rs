struct App;

impl App {
    #[lifecycle::main]
    async fn run(&self) {}
}

fn main() {}
