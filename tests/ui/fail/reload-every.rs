struct Config;

#[lifecycle::component]
impl Config {
    #[on_reload(every = "1m")]
    fn reread(&self) {}
}

fn main() {}
