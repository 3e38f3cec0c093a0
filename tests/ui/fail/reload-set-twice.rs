struct Config;

#[lifecycle::component]
impl Config {
    #[on_reload]
    #[on_reload(order = 1)]
    fn reread(&self) {}
}

fn main() {}
