//! Architecture Invariant checks for the core: it knows nothing of HTTP, SQL, time or
//! randomness. Its declared dependencies come from `cargo metadata`; its calls from its source.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that do I/O, speak HTTP or SQL, run an async runtime, or draw random numbers.
/// A name matches exactly or as a prefix followed by `-` or `_` (`tokio-util`, `rand_core`).
const FORBIDDEN: &[&str] = &[
    // HTTP and async runtimes.
    "axum",
    "hyper",
    "tower",
    "reqwest",
    "ureq",
    "curl",
    "actix-web",
    "warp",
    "tokio",
    "async-std",
    "smol",
    "mio",
    "socket2",
    // SQL.
    "sqlx",
    "rusqlite",
    "postgres",
    "diesel",
    "sea-orm",
    // The desktop shell.
    "tauri",
    // Randomness.
    "rand",
    "getrandom",
    "fastrand",
    // Files, processes and the machine.
    "tempfile",
    "walkdir",
    "notify",
    "dirs",
    "directories",
    "fs-err",
    "memmap2",
    "libc",
];

fn forbidden(name: &str) -> Option<&'static str> {
    FORBIDDEN.iter().copied().find(|f| {
        name == *f
            || name
                .strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('_'))
    })
}

/// `cargo metadata` for this workspace, without resolving anything.
fn metadata() -> Value {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The core's dependencies that ship with it (normal and build, not dev), by package name.
fn core_dependencies() -> Vec<String> {
    let metadata = metadata();
    let core = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fieldsync-core")
        .expect("fieldsync-core is a workspace member");
    core["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].as_str() != Some("dev"))
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_forbidden_list_matches_what_it_should() {
    assert_eq!(forbidden("tokio"), Some("tokio"));
    assert_eq!(forbidden("tokio-util"), Some("tokio"));
    assert_eq!(forbidden("rand_core"), Some("rand"));
    assert_eq!(forbidden("tauri-build"), Some("tauri"));
    assert_eq!(forbidden("serde"), None);
    assert_eq!(forbidden("randomize"), None);
    assert_eq!(forbidden("towel"), None);
}

#[test]
fn core_depends_on_no_http_sql_runtime_or_randomness() {
    let dependencies = core_dependencies();
    // The list is read for real: the core's own parsing and serialising crates are in it.
    assert!(
        dependencies.iter().any(|d| d == "serde_json"),
        "{dependencies:?}"
    );
    assert!(
        dependencies.iter().any(|d| d == "toml_edit"),
        "{dependencies:?}"
    );
    let bad: Vec<(&str, &str)> = dependencies
        .iter()
        .filter_map(|d| forbidden(d).map(|f| (d.as_str(), f)))
        .collect();
    assert!(
        bad.is_empty(),
        "fieldsync-core must know nothing of HTTP, SQL, time or randomness, but depends on {bad:?}"
    );
}

/// Calls that read the clock, draw random numbers or touch the machine.
const FORBIDDEN_CALLS: &[&str] = &[
    "Utc::now",
    "Local::now",
    "SystemTime",
    "Instant::now",
    "new_v4",
    "new_v7",
    "now_v7",
    "thread_rng",
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "std::io::stdin",
    "println!",
    "eprintln!",
];

#[test]
fn core_source_reads_no_clock_and_draws_no_random_numbers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = 0;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for call in FORBIDDEN_CALLS.iter().copied() {
                if line.contains(call) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        files >= 5,
        "found only {files} source files in {}",
        src.display()
    );
    assert!(
        found.is_empty(),
        "time, randomness and I/O come in from outside the core:\n{}",
        found.join("\n")
    );
}

/// The source folders of the workspace's crates: each holds one package's `lib.rs`, `main.rs`
/// and `bin/*.rs` module trees.
fn source_folders() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    folders.push(root.join("src-tauri/src"));
    folders.push(root.join("tests/sim/src"));
    folders.sort();
    folders
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Every `.rs` file under a folder, with its text.
fn read_sources(folder: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.insert(path, text);
            }
        }
    }
    files
}

#[test]
fn no_file_of_a_crate_imports_itself_through_others() {
    let root = workspace_root();
    let mut circles = Vec::new();
    let mut files = 0;
    let mut arrows = 0;
    for folder in source_folders() {
        let sources = read_sources(&folder);
        files += sources.len();
        let graph = imports::graph(&folder, &sources);
        assert!(
            graph.unreached.is_empty(),
            "files no crate root declares as a module, so this check cannot read them: {:?}",
            graph.unreached
        );
        arrows += graph.arrows.values().map(BTreeMap::len).sum::<usize>();
        for circle in imports::circles(&graph.arrows) {
            circles.push(imports::describe(&circle, &graph.arrows, &root));
        }
    }
    // The graph is read for real: every crate's files, and the imports between them.
    assert!(files >= 40, "read only {files} source files");
    assert!(arrows >= 40, "found only {arrows} imports between files");
    assert!(
        circles.is_empty(),
        "files of one crate import each other in a circle (move what both need into a file of \
         its own):\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_check_follows_every_kind_of_path() {
    let src = Path::new("/x/src");
    let file = |name: &str, text: &str| (src.join(name), text.to_string());
    let sources: BTreeMap<PathBuf, String> = [
        file(
            "lib.rs",
            "//! Root.\nmod a;\nmod b;\nmod c;\n#[path = \"other.rs\"]\nmod d;\npub use c::Thing;\n",
        ),
        // A comment or a string naming `crate::b::X` is no import.
        file("a.rs", "// use crate::b::X;\nconst S: &str = \"crate::c::Y\";\nuse super::{b::{self, Y as Z}};\n"),
        file("b.rs", "fn f() { let t = crate::Thing::new(); }\nmod inner { use super::super::d::D; }\n"),
        file("c.rs", "pub struct Thing;\n"),
        file("other.rs", "pub struct D;\nfn g() { super::a::h(); }\n"),
    ]
    .into_iter()
    .collect();
    let graph = imports::graph(src, &sources);
    assert!(graph.unreached.is_empty(), "{:?}", graph.unreached);
    let targets = |name: &str| -> Vec<String> {
        graph.arrows[&src.join(name)]
            .keys()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(targets("a.rs"), ["b.rs"]);
    // Through the root's re-export to the file that defines the item.
    assert_eq!(targets("b.rs"), ["c.rs", "other.rs"]);
    assert_eq!(targets("other.rs"), ["a.rs"]);
    // A parent naming its children (`mod`, re-exports) is no import.
    assert!(targets("lib.rs").is_empty());
    let circles = imports::circles(&graph.arrows);
    assert_eq!(circles.len(), 1, "{circles:?}");
    let names: Vec<String> = circles[0]
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.rs", "b.rs", "other.rs", "a.rs"]);
}

/// The import graph between the files of one crate, read from the source text: `use` trees,
/// and paths that start with `crate::`, `super::` or `self::` anywhere in code. A path is
/// followed to the file of the module that defines what it names (through re-exports), so
/// `crate::Owner` re-exported by `lib.rs` from `model.rs` is an import of `model.rs`.
mod imports {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::path::{Path, PathBuf};

    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        Ident(String),
        Str(String),
        PathSep,
        Punct(char),
    }

    /// Rust source as tokens, without comments; string literals keep their text (for
    /// `#[path = "..."]`), so nothing inside them is read as a path.
    fn tokens(text: &str) -> Vec<Token> {
        let c: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        let ident_start = |ch: char| ch.is_alphabetic() || ch == '_';
        let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
        while i < c.len() {
            let ch = c[i];
            let next = c.get(i + 1).copied();
            if ch.is_whitespace() {
                i += 1;
            } else if ch == '/' && next == Some('/') {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            } else if ch == '/' && next == Some('*') {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            } else if ch == '"' {
                let start = i + 1;
                i += 1;
                while i < c.len() && c[i] != '"' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                out.push(Token::Str(c[start..i.min(c.len())].iter().collect()));
                i += 1;
            } else if ch == '\'' {
                // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
                if next == Some('\\') {
                    i += 2;
                    while i < c.len() && c[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if c.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            } else if ident_start(ch) {
                let start = i;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
                if raw_prefix && matches!(c.get(i), Some('#') | Some('"')) {
                    let mut hashes = 0;
                    while c.get(i) == Some(&'#') {
                        hashes += 1;
                        i += 1;
                    }
                    if c.get(i) == Some(&'"') {
                        i += 1;
                        let start = i;
                        loop {
                            if i >= c.len() {
                                break;
                            }
                            if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                                break;
                            }
                            i += 1;
                        }
                        out.push(Token::Str(c[start..i.min(c.len())].iter().collect()));
                        i += 1 + hashes;
                    } else if word == "r" && hashes == 1 {
                        // A raw identifier, r#name.
                        let start = i;
                        while i < c.len() && ident_char(c[i]) {
                            i += 1;
                        }
                        out.push(Token::Ident(c[start..i].iter().collect()));
                    }
                } else if matches!(word.as_str(), "b" | "c") && c.get(i) == Some(&'"') {
                    // A byte or C string: the literal follows.
                } else {
                    out.push(Token::Ident(word));
                }
            } else if ch.is_ascii_digit() {
                while i < c.len()
                    && (ident_char(c[i])
                        || (c[i] == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)))
                {
                    i += 1;
                }
            } else if ch == ':' && next == Some(':') {
                out.push(Token::PathSep);
                i += 2;
            } else {
                out.push(Token::Punct(ch));
                i += 1;
            }
        }
        out
    }

    fn is_ident(t: Option<&Token>, word: &str) -> bool {
        matches!(t, Some(Token::Ident(w)) if w == word)
    }

    fn ident(t: Option<&Token>) -> Option<&str> {
        match t {
            Some(Token::Ident(w)) => Some(w),
            _ => None,
        }
    }

    /// One path of a `use` tree, with the name it is imported as.
    #[derive(Debug, Clone)]
    struct UsePath {
        segments: Vec<String>,
        alias: Option<String>,
    }

    /// Parses a `use` tree starting at `i`; the paths it names, and where it ends.
    fn use_tree(t: &[Token], mut i: usize, prefix: &[String], out: &mut Vec<UsePath>) -> usize {
        let mut path = prefix.to_vec();
        if t.get(i) == Some(&Token::PathSep) {
            // `::name`: an outside crate.
            return skip_tree(t, i);
        }
        loop {
            match t.get(i) {
                Some(Token::Punct('{')) => {
                    i += 1;
                    while i < t.len() && t.get(i) != Some(&Token::Punct('}')) {
                        i = use_tree(t, i, &path, out);
                        if t.get(i) == Some(&Token::Punct(',')) {
                            i += 1;
                        } else if t.get(i) != Some(&Token::Punct('}')) {
                            return skip_tree(t, i);
                        }
                    }
                    return i + 1;
                }
                Some(Token::Punct('*')) => {
                    path.push("*".into());
                    out.push(UsePath {
                        segments: path,
                        alias: None,
                    });
                    return i + 1;
                }
                Some(Token::Ident(word)) => {
                    i += 1;
                    if t.get(i) == Some(&Token::PathSep) {
                        path.push(word.clone());
                        i += 1;
                        continue;
                    }
                    if word != "self" {
                        path.push(word.clone());
                    }
                    let mut alias = None;
                    if is_ident(t.get(i), "as") {
                        alias = ident(t.get(i + 1)).map(str::to_string);
                        i += 2;
                    }
                    out.push(UsePath {
                        segments: path,
                        alias,
                    });
                    return i;
                }
                _ => return i,
            }
        }
    }

    /// Past a `use` tree this check does not follow.
    fn skip_tree(t: &[Token], mut i: usize) -> usize {
        let mut depth = 0;
        while let Some(token) = t.get(i) {
            match token {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') if depth == 0 => return i,
                Token::Punct('}') => depth -= 1,
                Token::Punct(',') | Token::Punct(';') if depth == 0 => return i,
                _ => {}
            }
            i += 1;
        }
        i
    }

    /// A path met in a file: in which of its modules, and whether it is a re-export.
    #[derive(Debug, Clone)]
    struct Mention {
        module: Vec<String>,
        segments: Vec<String>,
        public_use: bool,
    }

    /// What one file says: the modules it declares, the paths it mentions, what it defines.
    #[derive(Debug, Default)]
    struct FileFacts {
        /// (the in-file module, the child's name, its `#[path]`): `mod name;` declarations.
        file_modules: Vec<(Vec<String>, String, Option<String>)>,
        /// Inline `mod name { ... }` modules, by in-file path.
        inline_modules: Vec<Vec<String>>,
        mentions: Vec<Mention>,
        /// Re-exports by in-file module: the name they give, and the path.
        reexports: Vec<(Vec<String>, String, Vec<String>)>,
        /// Item names defined by in-file module.
        defined: Vec<(Vec<String>, String)>,
    }

    fn facts(text: &str) -> FileFacts {
        let t = tokens(text);
        let mut facts = FileFacts::default();
        // The inline modules open at this point, with the brace depth each opened at.
        let mut scopes: Vec<(String, usize)> = Vec::new();
        let mut depth = 0;
        let mut pending_module: Option<String> = None;
        let mut path_attr: Option<String> = None;
        let mut i = 0;
        let here = |scopes: &[(String, usize)]| -> Vec<String> {
            scopes.iter().map(|(name, _)| name.clone()).collect()
        };
        while i < t.len() {
            match &t[i] {
                Token::Punct('{') => {
                    depth += 1;
                    if let Some(name) = pending_module.take() {
                        scopes.push((name, depth));
                        facts.inline_modules.push(here(&scopes));
                    }
                    path_attr = None;
                    i += 1;
                }
                Token::Punct('}') => {
                    if scopes.last().is_some_and(|(_, d)| *d == depth) {
                        scopes.pop();
                    }
                    depth -= 1;
                    path_attr = None;
                    i += 1;
                }
                Token::Punct(';') => {
                    path_attr = None;
                    i += 1;
                }
                Token::Punct('#')
                    if t.get(i + 1) == Some(&Token::Punct('['))
                        && is_ident(t.get(i + 2), "path")
                        && t.get(i + 3) == Some(&Token::Punct('=')) =>
                {
                    if let Some(Token::Str(p)) = t.get(i + 4) {
                        path_attr = Some(p.clone());
                    }
                    i += 5;
                }
                Token::Ident(w) if w == "mod" => {
                    let Some(name) = ident(t.get(i + 1)) else {
                        i += 1;
                        continue;
                    };
                    match t.get(i + 2) {
                        Some(Token::Punct(';')) => {
                            facts.file_modules.push((
                                here(&scopes),
                                name.to_string(),
                                path_attr.take(),
                            ));
                        }
                        Some(Token::Punct('{')) => pending_module = Some(name.to_string()),
                        _ => {}
                    }
                    i += 2;
                }
                Token::Ident(w) if w == "use" => {
                    let public = is_ident(t.get(i.wrapping_sub(1)), "pub")
                        || (t.get(i.wrapping_sub(1)) == Some(&Token::Punct(')'))
                            && (0..i)
                                .rev()
                                .find(|&k| t[k] == Token::Punct('('))
                                .is_some_and(|k| is_ident(t.get(k.wrapping_sub(1)), "pub")));
                    let mut paths = Vec::new();
                    i = use_tree(&t, i + 1, &[], &mut paths);
                    let module = here(&scopes);
                    for p in paths {
                        if public {
                            if let Some(name) =
                                p.alias.clone().or_else(|| p.segments.last().cloned())
                            {
                                facts
                                    .reexports
                                    .push((module.clone(), name, p.segments.clone()));
                            }
                        }
                        facts.mentions.push(Mention {
                            module: module.clone(),
                            segments: p.segments,
                            public_use: public,
                        });
                    }
                }
                Token::Ident(w)
                    if matches!(w.as_str(), "crate" | "super" | "self")
                        && t.get(i + 1) == Some(&Token::PathSep) =>
                {
                    let mut segments = vec![w.clone()];
                    i += 1;
                    while t.get(i) == Some(&Token::PathSep) {
                        match ident(t.get(i + 1)) {
                            Some(next) => {
                                segments.push(next.to_string());
                                i += 2;
                            }
                            None => break,
                        }
                    }
                    facts.mentions.push(Mention {
                        module: here(&scopes),
                        segments,
                        public_use: false,
                    });
                }
                Token::Ident(w)
                    if matches!(
                        w.as_str(),
                        "struct" | "enum" | "fn" | "type" | "const" | "static" | "trait" | "union"
                    ) =>
                {
                    if let Some(name) = ident(t.get(i + 1)) {
                        facts.defined.push((here(&scopes), name.to_string()));
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        facts
    }

    /// A module of a crate: its file, its children, its re-exports and its own items.
    #[derive(Debug, Default)]
    struct Module {
        file: PathBuf,
        children: BTreeSet<String>,
        reexports: HashMap<String, Vec<String>>,
        globs: Vec<Vec<String>>,
        defined: BTreeSet<String>,
    }

    type Modules = HashMap<Vec<String>, Module>;

    /// The import graph of one package's source folder.
    pub struct Graph {
        /// file -> the files it imports, each with the first path that made the arrow.
        pub arrows: BTreeMap<PathBuf, BTreeMap<PathBuf, String>>,
        /// Files no crate root reaches through `mod` declarations.
        pub unreached: Vec<PathBuf>,
    }

    pub fn graph(src: &Path, sources: &BTreeMap<PathBuf, String>) -> Graph {
        let read: BTreeMap<&PathBuf, FileFacts> =
            sources.iter().map(|(p, text)| (p, facts(text))).collect();
        let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
            .iter()
            .map(|name| src.join(name))
            .filter(|p| sources.contains_key(p))
            .collect();
        roots.extend(
            sources
                .keys()
                .filter(|p| p.parent() == Some(&src.join("bin")))
                .cloned(),
        );
        let mut reached = BTreeSet::new();
        let mut arrows: BTreeMap<PathBuf, BTreeMap<PathBuf, String>> = BTreeMap::new();
        for root in roots {
            let mut modules = Modules::new();
            // (file, its module path, the folder its children's files are in).
            let mut todo = vec![(root.clone(), Vec::<String>::new(), src.to_path_buf())];
            let mut files: Vec<(PathBuf, Vec<String>)> = Vec::new();
            while let Some((file, path, children_dir)) = todo.pop() {
                let Some(f) = read.get(&file) else {
                    continue;
                };
                if files.iter().any(|(p, _)| p == &file) {
                    continue;
                }
                reached.insert(file.clone());
                files.push((file.clone(), path.clone()));
                modules.entry(path.clone()).or_default().file = file.clone();
                for inline in &f.inline_modules {
                    let full = [path.clone(), inline.clone()].concat();
                    modules.entry(full.clone()).or_default().file = file.clone();
                    let (name, parent) = full.split_last().unwrap();
                    modules
                        .entry(parent.to_vec())
                        .or_default()
                        .children
                        .insert(name.clone());
                }
                for (inline, name, path_attr) in &f.file_modules {
                    let parent = [path.clone(), inline.clone()].concat();
                    let child: Vec<String> = [parent.clone(), vec![name.clone()]].concat();
                    modules
                        .entry(parent)
                        .or_default()
                        .children
                        .insert(name.clone());
                    let dir = inline.iter().fold(children_dir.clone(), |d, m| d.join(m));
                    let child_file = match path_attr {
                        Some(p) => file.parent().unwrap().join(p),
                        None if sources.contains_key(&dir.join(format!("{name}.rs"))) => {
                            dir.join(format!("{name}.rs"))
                        }
                        None => dir.join(name).join("mod.rs"),
                    };
                    let grandchildren = if child_file.file_name().is_some_and(|n| n == "mod.rs") {
                        child_file.parent().unwrap().to_path_buf()
                    } else {
                        child_file.with_extension("")
                    };
                    todo.push((child_file, child, grandchildren));
                }
            }
            for (file, path) in &files {
                let f = &read[file];
                for (inline, name, target) in &f.reexports {
                    let module = modules
                        .entry([path.clone(), inline.clone()].concat())
                        .or_default();
                    if name == "*" {
                        module.globs.push(target.clone());
                    } else {
                        module.reexports.insert(name.clone(), target.clone());
                    }
                }
                for (inline, name) in &f.defined {
                    modules
                        .entry([path.clone(), inline.clone()].concat())
                        .or_default()
                        .defined
                        .insert(name.clone());
                }
            }
            for (file, path) in &files {
                for mention in &read[file].mentions {
                    let from = [path.clone(), mention.module.clone()].concat();
                    let Some(target) = resolve(&modules, &from, &mention.segments, 0) else {
                        continue;
                    };
                    let Some(target_file) = modules.get(&target).map(|m| m.file.clone()) else {
                        continue;
                    };
                    if &target_file == file {
                        continue;
                    }
                    // A parent naming its children's items as its own (`pub use child::X`)
                    // is the parent's outline, as `mod child` is, not an import.
                    if mention.public_use && target.starts_with(path) {
                        continue;
                    }
                    arrows
                        .entry(file.clone())
                        .or_default()
                        .entry(target_file)
                        .or_insert_with(|| mention.segments.join("::"));
                }
                arrows.entry(file.clone()).or_default();
            }
        }
        let unreached = sources
            .keys()
            .filter(|p| !reached.contains(*p))
            .cloned()
            .collect();
        Graph { arrows, unreached }
    }

    /// The module that holds what `segments` names, seen from module `from`; `None` for what
    /// lives outside the crate.
    fn resolve(
        modules: &Modules,
        from: &[String],
        segments: &[String],
        depth: usize,
    ) -> Option<Vec<String>> {
        if depth > 16 {
            return None;
        }
        let mut module: Vec<String> = from.to_vec();
        let mut rest = segments;
        match segments.first().map(String::as_str) {
            Some("crate") => {
                module.clear();
                rest = &segments[1..];
            }
            Some("self") | Some("super") => {
                while let Some((first, tail)) = rest.split_first() {
                    match first.as_str() {
                        "self" => {}
                        "super" => {
                            module.pop()?;
                        }
                        _ => break,
                    }
                    rest = tail;
                }
            }
            // In a `use`, a name may start at a child module of the current one.
            Some(first)
                if modules
                    .get(from)
                    .is_some_and(|m| m.children.contains(first)) => {}
            _ => return None,
        }
        for segment in rest {
            let here = modules.get(&module)?;
            if segment == "*" {
                break;
            }
            if here.children.contains(segment) {
                module.push(segment.clone());
                continue;
            }
            return item(modules, &module, segment, depth);
        }
        Some(module)
    }

    /// The module that defines `name` as module `module` offers it.
    fn item(modules: &Modules, module: &[String], name: &str, depth: usize) -> Option<Vec<String>> {
        let here = modules.get(module)?;
        if here.defined.contains(name) {
            return Some(module.to_vec());
        }
        if let Some(target) = here.reexports.get(name) {
            return resolve(modules, module, target, depth + 1);
        }
        for glob in &here.globs {
            let Some(target) = resolve(modules, module, glob, depth + 1) else {
                continue;
            };
            let offers = modules.get(&target).is_some_and(|m| {
                m.defined.contains(name)
                    || m.reexports.contains_key(name)
                    || m.children.contains(name)
            });
            if offers {
                return item(modules, &target, name, depth + 1);
            }
        }
        Some(module.to_vec())
    }

    /// Every circle of arrows, each as its files in order, the first repeated at the end.
    pub fn circles(arrows: &BTreeMap<PathBuf, BTreeMap<PathBuf, String>>) -> Vec<Vec<PathBuf>> {
        let mut found: Vec<Vec<PathBuf>> = Vec::new();
        let mut seen: BTreeSet<Vec<PathBuf>> = BTreeSet::new();
        let mut done: BTreeSet<&PathBuf> = BTreeSet::new();
        for start in arrows.keys() {
            if done.contains(start) {
                continue;
            }
            let mut stack: Vec<(&PathBuf, Vec<&PathBuf>)> =
                vec![(start, arrows[start].keys().collect())];
            let mut on_stack: Vec<&PathBuf> = vec![start];
            while let Some((_, next)) = stack.last_mut() {
                let Some(to) = next.pop() else {
                    let (file, _) = stack.pop().unwrap();
                    on_stack.pop();
                    done.insert(file);
                    continue;
                };
                if let Some(at) = on_stack.iter().position(|f| *f == to) {
                    let mut circle: Vec<PathBuf> =
                        on_stack[at..].iter().map(|p| (*p).clone()).collect();
                    // The same circle found from another file is reported once.
                    let mut key = circle.clone();
                    let least = (0..key.len()).min_by_key(|&k| &key[k]).unwrap();
                    key.rotate_left(least);
                    if seen.insert(key.clone()) {
                        circle = key;
                        circle.push(circle[0].clone());
                        found.push(circle);
                    }
                    continue;
                }
                if done.contains(to) {
                    continue;
                }
                let onward = arrows
                    .get(to)
                    .map(|a| a.keys().collect())
                    .unwrap_or_default();
                stack.push((to, onward));
                on_stack.push(to);
            }
        }
        found
    }

    /// A circle as a line: each file relative to the workspace, with the path that imports
    /// the next.
    pub fn describe(
        circle: &[PathBuf],
        arrows: &BTreeMap<PathBuf, BTreeMap<PathBuf, String>>,
        root: &Path,
    ) -> String {
        let name = |p: &PathBuf| p.strip_prefix(root).unwrap_or(p).display().to_string();
        let mut line = name(&circle[0]);
        for pair in circle.windows(2) {
            line.push_str(&format!(
                " -({})-> {}",
                arrows[&pair[0]][&pair[1]],
                name(&pair[1])
            ));
        }
        line
    }
}
