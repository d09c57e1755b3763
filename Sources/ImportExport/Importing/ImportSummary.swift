/// What an import did, counted as it goes: the progress report and the summary at the end.
package struct ImportSummary: Equatable, Sendable {
    /// Users created by this run.
    package var usersCreated = 0
    /// Users a run before created (their key was replayed): found, not created again.
    package var usersFound = 0
    /// Movements applied by this run.
    package var applied = 0
    /// Movements a run before applied (their key was replayed): nothing moved again.
    package var replayed = 0
    /// Rows not applied, here or by the API.
    package private(set) var refused = 0
    /// The first `keptRefusals` refusals, in the order they happened.
    package private(set) var refusals: [ImportRefusal] = []

    /// A file of a million bad rows must not fill the memory: beyond this, refusals are only counted.
    static let keptRefusals = 10_000

    package init() {}

    package mutating func refuse(_ refusal: ImportRefusal) {
        refused += 1
        if refusals.count < Self.keptRefusals { refusals.append(refusal) }
    }

    /// Rows whose outcome is known.
    package var rowsDone: Int { usersCreated + usersFound + applied + replayed + refused }

    /// The summary printed at the end: the counts, then the refused rows by line (the first `limit` of them).
    package func report(limit: Int = 50) -> [String] {
        var lines = [
            "movements: \(applied) applied, \(replayed) replayed (applied before), \(refused) refused",
            "users: \(usersCreated) created, \(usersFound) found (created before)",
        ]
        for refusal in refusals.prefix(limit) {
            lines.append("refused line \(refusal.line): \(refusal.code): \(refusal.message)")
        }
        if refused > limit {
            lines.append("... and \(refused - limit) more refused rows")
        }
        return lines
    }
}
