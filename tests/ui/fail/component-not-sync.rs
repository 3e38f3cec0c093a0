use std::cell::Cell;

struct Counter {
    count: Cell<u64>,
}

#[lifecycle::component]
impl Counter {
    #[on_shutdown]
    fn report(&self) {
        println!("{}", self.count.get());
    }
}

fn main() {}
