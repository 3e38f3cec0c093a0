/// The service's entry point; doc comments and lints stay on the generated `main`.
#[lifecycle::main]
#[allow(clippy::let_unit_value)]
async fn main() {
    #![allow(unused_variables)]
    let unused = ();
}
