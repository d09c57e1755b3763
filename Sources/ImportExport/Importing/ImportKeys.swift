import Credentials

/// The idempotency keys of an import's requests: one per line of the file, the same on every run of the same
/// import, so that a run after an interruption gets the lines already applied answered as replayed (and the users
/// already created answered with their ids) instead of applying them twice.
///
/// A key is `import-` + the first 16 hex digits of the SHA-256 of the import's id (by default the file's name,
/// which stays the same when the file grows) + `-` + the line: short, ASCII (it travels in an HTTP header) and
/// different for two imports with different ids.
package struct ImportKeys: Sendable {
    package let importID: String
    private let prefix: String

    package init(importID: String) {
        self.importID = importID
        let digest = SHA256.hash(Array(importID.utf8)).prefix(8)
        let hexDigits = Array("0123456789abcdef")
        prefix = "import-" + String(digest.flatMap { [hexDigits[Int($0 >> 4)], hexDigits[Int($0 & 15)]] })
    }

    /// The key of the request (a user's creation) or of the batch item (a movement) for the row on `line`.
    package func key(line: Int) -> String {
        "\(prefix)-\(line)"
    }
}
