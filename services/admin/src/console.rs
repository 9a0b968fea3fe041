//! The operator console (`console/`, a single-page app) served at `/console/`.
//!
//! The files are those of `console/dist` (`npm run build`): embedded in the binary by a release
//! build, read from that folder at run time by a debug build (rust-embed's behaviour), so that a
//! rebuilt console shows without recompiling the admin. Hashed assets (`assets/*`, named by
//! content) are cached for a year; `index.html` is revalidated every time, so a new release is
//! picked up at the next load. Paths that are not files get `index.html` (the console routes in
//! the browser). Without a built console, `/console/` says how to build it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../console/dist/"]
#[allow_missing = true]
struct ConsoleFiles;

/// Registers `/console` and everything under it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(redirect_to_slash))
        .route("/console/{path:.*}", web::get().to(serve));
}

async fn redirect_to_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/console/"))
        .finish()
}

async fn serve(request: HttpRequest) -> HttpResponse {
    let path = request.match_info().query("path");
    match file(path) {
        Some(found) => found,
        None => match file("index.html") {
            Some(index) => index,
            None => HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("The console is not built: run `npm ci && npm run build` in console/ (scripts/dev.sh does).\n"),
        },
    }
}

/// The file at `path` with its type and cache policy, or `None` when there is none.
fn file(path: &str) -> Option<HttpResponse> {
    // rust-embed refuses paths that leave the folder; a directory is not a file.
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    let content = ConsoleFiles::get(path)?;
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if path == "index.html" {
        response
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"));
    }
    Some(response.body(content.data.into_owned()))
}

/// Scripts and styles from this origin only; inline style attributes are what the flow drawing
/// positions nodes with. Nothing may frame the console.
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
);

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("assets/x.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("noextension"), "application/octet-stream");
    }

    #[test]
    fn directories_and_parent_paths_are_not_files() {
        assert!(file("").is_none());
        assert!(file("assets/").is_none());
        assert!(file("../Cargo.toml").is_none());
        assert!(file("../../services/admin/Cargo.toml").is_none());
    }
}
