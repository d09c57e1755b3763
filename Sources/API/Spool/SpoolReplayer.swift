/// Applies what waits in the spool, oldest first, once the database is back: each request through
/// `TallyAPI.replay`, its progress saved on disk after each one, and the spool emptied when all is done.
/// Exactly-once: a crash between applying a request and saving the progress replays that request again, and its
/// idempotency key makes the second run answer the first outcome without moving anything.
package final class SpoolReplayer {
    let api: TallyAPI
    package let spool: RequestSpool

    package init(api: TallyAPI, spool: RequestSpool) {
        self.api = api
        self.spool = spool
    }

    /// Replays every pending request, reporting each; stops early (returning false) when the database becomes
    /// unavailable, leaving that request to the next pass. True when the spool was drained.
    package func replayPending(report: (SpooledRequest?, ReplayResult) -> Void) throws -> Bool {
        var replayedUpTo = try spool.replayedUpTo()
        for (request, end) in try spool.pending() {
            let result = request.map(api.replay) ?? .failed(reason: "a record this version cannot read")
            if case .unavailable = result {
                report(request, result)
                return false
            }
            try spool.markReplayed(upTo: end)
            replayedUpTo = end
            report(request, result)
        }
        if replayedUpTo > 0 { _ = try spool.emptyIfReplayed(upTo: replayedUpTo) }
        return true
    }
}
