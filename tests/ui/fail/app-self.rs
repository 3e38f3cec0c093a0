struct Service;

impl Service {
    #[lifecycle::main]
    async fn run(&self) {}
}

fn main() {}
