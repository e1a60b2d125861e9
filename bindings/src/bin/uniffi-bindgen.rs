//! The workspace's own `uniffi-bindgen`, the exact uniffi version the library is built with.
//! Library mode: `uniffi-bindgen generate --library target/debug/libxuncha_ffi.so --language kotlin --out-dir …`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
