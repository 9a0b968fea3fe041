//! The botctl binary: arguments in, `botctl::run`, exit code out.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Lossy rather than `std::env::args()`, which panics on an argument that is not UTF-8.
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let code = botctl::run(args, &mut std::io::stdout(), &mut std::io::stderr()).await;
    std::process::exit(code);
}
