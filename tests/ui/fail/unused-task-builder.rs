// A task builder spawns nothing until `.spawn`, `.spawn_blocking` or `.supervise`: forgetting
// the last call is a compile error under `deny(unused_must_use)` (a warning by default).
#![deny(unused_must_use)]

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.task("writer").critical();
}
