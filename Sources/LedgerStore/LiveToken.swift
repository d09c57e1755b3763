import Ledger

/// A live bearer token as the ledger holds it: whom it stands for and when it expires.
package struct LiveToken: Equatable, Sendable {
    package let caller: Caller
    /// Microseconds since 1970; nil when it never expires (a service token made without a lifetime).
    package let expiresAtMicroseconds: Int64?

    package init(caller: Caller, expiresAtMicroseconds: Int64?) {
        self.caller = caller
        self.expiresAtMicroseconds = expiresAtMicroseconds
    }
}

extension LedgerOperations {
    /// What `caller(tokenHash:)` says, without the expiry: for ledgers that do not tell it.
    package func liveToken(hash: [UInt8]) throws -> LiveToken? {
        try caller(tokenHash: hash).map { LiveToken(caller: $0, expiresAtMicroseconds: nil) }
    }
}
