#![no_main]

use std::cell::RefCell;

use ekm_fuzz::mock::{Harness, Surface};

thread_local! {
    static HARNESS: RefCell<Harness> = RefCell::new(Harness::new(Surface::Control));
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| HARNESS.with_borrow_mut(|harness| harness.run(data)));
