import CProcessShims
import Glibc

/// A worker's own entry in the pool's scoreboard: what it is doing, and its counters.
package struct WorkerScore {
    package let scoreboard: Scoreboard
    let entry: UnsafeMutablePointer<tally_entry>

    /// The entry the supervisor gave this worker (`--scoreboard-entry`), in the scoreboard it inherited.
    package init?(scoreboard: Scoreboard, entry index: Int) {
        guard index >= 0, index < scoreboard.entryCount else { return nil }
        self.scoreboard = scoreboard
        self.entry = scoreboard.entry(index)
    }

    /// A request was accepted: the worker is busy with it.
    /// A request begins; its id, method and URI are C strings (FastCGI's parameters, as they are), nil for
    /// one not given.
    func begin(
        requestID: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?, uri: UnsafePointer<CChar>?,
        nowMicroseconds: Int64
    ) {
        tally_entry_begin(entry, requestID, method, uri, nowMicroseconds)
        add(.accepted)
        let lane = PoolLane(rawValue: tally_load_i32(&entry.pointee.lane)) ?? .main
        var active: Int64 = 0
        var activeInLane: Int64 = 0
        for index in 0..<scoreboard.entryCount
        where tally_load_i32(&scoreboard.entry(index).pointee.state) == TALLY_ENTRY_BUSY.rawValue {
            active += 1
            if scoreboard.lane(ofEntry: index) == lane { activeInLane += 1 }
        }
        scoreboard.raise(.maxActive, to: active)
        // Every worker of the lane busy: a request arriving now waits in the lane's listen queue (php-fpm's "max
        // children reached").
        if activeInLane >= scoreboard.figure(lane.processes) { scoreboard.add(lane.maxChildrenReached) }
    }

    /// The request was answered with `status` after `microseconds`; `route` indexes the metrics' route labels.
    func end(route: Int, status: Int, microseconds: Int64) {
        let route = Int32(min(max(route, 0), Scoreboard.routeCapacity - 1))
        tally_add_u(tally_entry_requests(entry, route, Int32(StatusTable.index(of: status))), 1)
        tally_add_u(tally_entry_bucket(entry, route, Int32(LatencyBuckets.index(ofMicroseconds: microseconds))), 1)
        tally_add_u(tally_entry_latency_sum(entry, route), UInt64(max(microseconds, 0)))
        tally_entry_end(entry)
    }

    package func add(_ counter: PoolSnapshot.Counter, _ amount: Int = 1) {
        guard amount > 0 else { return }
        tally_add_u(tally_entry_counter(entry, counter.cValue), UInt64(amount))
    }
}
