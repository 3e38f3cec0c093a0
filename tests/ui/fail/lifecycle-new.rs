// Porting from an API where the handle had a constructor: the error names what makes one now.
fn main() {
    let config = lifecycle::Config::new();
    let _lc = lifecycle::Lifecycle::new(config);
}
