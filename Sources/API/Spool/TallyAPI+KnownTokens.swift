import Glibc
import Ledger
import LedgerStore

/// How live requests teach the spool which tokens the database accepts (see `KnownTokens`). Nothing here runs
/// without a spool, and a request's answer never depends on it.
extension TallyAPI {
    /// Who the token stands for, as `ledger.caller` says; when the spool should learn the token, read with its
    /// expiry instead (the same one round trip) and noted.
    func caller(of tokenHash: [UInt8]) throws -> Caller? {
        guard let known = spool?.knownTokens else { return try ledger.caller(tokenHash: tokenHash) }
        let now = Int64(time(nil))
        guard known.isStale(tokenHash, now: now) else {
            let caller = try ledger.caller(tokenHash: tokenHash)
            if caller == nil { known.refused(tokenHash, now: now) }
            return caller
        }
        return learn(tokenHash, from: try ledger.liveToken(hash: tokenHash), known: known, now: now)
    }

    /// Notes what the ledger found a token to be in a read that returned its caller beside other things.
    func noteCaller(_ caller: Caller?, of tokenHash: [UInt8]) {
        guard let known = spool?.knownTokens else { return }
        let now = Int64(time(nil))
        guard let caller else { return known.refused(tokenHash, now: now) }
        if known.isStale(tokenHash, now: now) { known.accepted(tokenHash, caller: caller, expiresAt: nil, now: now) }
    }

    /// Notes a token the ledger just issued.
    func noteIssued(_ tokenHash: [UInt8], caller: Caller, expiresAtMicroseconds: Int64?) {
        spool?.knownTokens.accepted(
            tokenHash, caller: caller, expiresAt: expiresAtMicroseconds.map { $0 / 1_000_000 }, now: Int64(time(nil)))
    }

    /// Notes a token that no longer stands for anyone (logged out).
    func noteRevoked(_ tokenHash: [UInt8]) {
        spool?.knownTokens.refused(tokenHash, now: Int64(time(nil)))
    }

    /// Notes what a movement showed of its token: a refusal as unauthorized forgets it; any other outcome means
    /// the ledger accepted it, and a token this worker has not noted lately is then looked up once (a movement
    /// does not return its caller). A lookup that fails leaves the token unknown.
    func noteMovement(_ settlement: Settlement, tokenHash: [UInt8]) {
        guard let known = spool?.knownTokens else { return }
        let now = Int64(time(nil))
        switch settlement {
        case .refused(.unauthorized):
            known.refused(tokenHash, now: now)
        case .applied, .refused:
            guard known.isStale(tokenHash, now: now), let live = try? ledger.liveToken(hash: tokenHash) else { return }
            _ = learn(tokenHash, from: live, known: known, now: now)
        case .keyReused:
            break
        }
    }

    private func learn(_ tokenHash: [UInt8], from live: LiveToken?, known: KnownTokens, now: Int64) -> Caller? {
        guard let live else {
            known.refused(tokenHash, now: now)
            return nil
        }
        known.accepted(
            tokenHash, caller: live.caller, expiresAt: live.expiresAtMicroseconds.map { $0 / 1_000_000 }, now: now)
        return live.caller
    }
}
