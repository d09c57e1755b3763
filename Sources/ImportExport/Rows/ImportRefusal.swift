/// A row that was not applied, and why: refused here (it does not read, it names a user the file never defined)
/// or by the API (insufficient funds, ...), with the API's code.
package struct ImportRefusal: Error, Equatable, Sendable {
    package let line: Int
    /// `invalid_row`, `unknown_user` and `duplicate_user` from the import itself; the API's code otherwise.
    package let code: String
    package let message: String

    package init(line: Int, code: String, message: String) {
        self.line = line
        self.code = code
        self.message = message
    }

    static func invalid(_ line: Int, _ message: String) -> ImportRefusal {
        ImportRefusal(line: line, code: "invalid_row", message: message)
    }
}
