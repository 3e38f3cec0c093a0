// A tracked task must return `()` or a `Result`: its failure goes in the report.
#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.spawn(async { 42u32 });
}
