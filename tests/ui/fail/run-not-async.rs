use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 1)]
    fn consume(&self, token: CancellationToken) {
        let _ = token;
    }
}

fn main() {}
