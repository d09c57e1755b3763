import Glibc
import SystemSupport
import Testing

@testable import FastCGI

@Suite("The pool's scoreboard and its status pages")
struct PoolScoreboardTests {
    let report = PoolReport(
        pool: "tally", listen: "/tmp/t.sock", routeLabels: ["GET /api/users", "POST /api/transfers"])

    /// A scoreboard with two workers' entries, as the supervisor hands them out.
    func board() throws -> (Scoreboard, WorkerScore, WorkerScore) {
        let scoreboard = try Scoreboard.create(entryCount: 4)
        scoreboard.set(.totalProcesses, 2)
        let first = try #require(scoreboard.claimEntry())
        let second = try #require(scoreboard.claimEntry())
        return (
            scoreboard, try #require(WorkerScore(scoreboard: scoreboard, entry: first)),
            try #require(WorkerScore(scoreboard: scoreboard, entry: second))
        )
    }

    @Test("figures are the sum over every worker, not the one that answers")
    func sumsOverWorkers() throws {
        let (scoreboard, first, second) = try board()
        first.begin(requestID: "a", method: "POST", uri: "/api/transfers", nowMicroseconds: 0)
        first.end(route: 1, status: 201, microseconds: 3_000)
        second.begin(requestID: "b", method: "POST", uri: "/api/transfers", nowMicroseconds: 0)
        second.end(route: 1, status: 201, microseconds: 700)
        second.add(.movements, 2)
        first.add(.serializationRetries, 5)

        let snapshot = scoreboard.snapshot()
        #expect(snapshot[.accepted] == 2)
        #expect(snapshot[.movements] == 2)
        #expect(snapshot[.serializationRetries] == 5)
        #expect(snapshot.requests[1][StatusTable.index(of: 201)] == 2)
        #expect(snapshot.latencySumMicroseconds[1] == 3_700)
        #expect(snapshot.totalIdle == 2 && snapshot.totalActive == 0)
    }

    @Test("a running request shows as its id and \"METHOD URI\", cut to fit, with - for what was not given")
    func runningRequestLines() throws {
        let (scoreboard, first, second) = try board()
        scoreboard.assign(0, to: 4242)
        scoreboard.assign(1, to: 4243)
        first.begin(requestID: "a", method: "POST", uri: "/api/transfers?x=1", nowMicroseconds: 0)
        second.begin(requestID: nil, method: nil, uri: "/" + String(repeating: "u", count: 300), nowMicroseconds: 0)
        let running = scoreboard.runningRequests().sorted { $0.requestID < $1.requestID }
        try #require(running.map(\.requestID) == ["-", "a"])
        #expect(running[1].requestLine == "POST /api/transfers?x=1")
        // 127 characters: the field holds 128 bytes with the NUL.
        #expect(running[0].requestLine == "- /" + String(repeating: "u", count: 124))
    }

    @Test("a busy worker counts as active, and all busy counts as max children reached")
    func activeAndMaxChildren() throws {
        let (scoreboard, first, second) = try board()
        first.begin(requestID: "a", method: "GET", uri: "/api/users", nowMicroseconds: 0)
        #expect(scoreboard.snapshot().totalActive == 1)
        #expect(scoreboard.figure(.maxChildrenReached) == 0)
        second.begin(requestID: "b", method: "GET", uri: "/api/users", nowMicroseconds: 0)
        #expect(scoreboard.figure(.maxActive) == 2)
        #expect(scoreboard.figure(.maxChildrenReached) == 1)
        first.end(route: 0, status: 200, microseconds: 10)
        #expect(scoreboard.snapshot().totalActive == 1)
        #expect(scoreboard.figure(.maxActive) == 2)
    }

    @Test("the batch lane's workers count apart: all of them busy is the lane's max children, not the pool's")
    func batchLaneCountsApart() throws {
        let (scoreboard, first, _) = try board()
        scoreboard.set(.batchProcesses, 1)
        let laneEntry = try #require(scoreboard.claimEntry(lane: .batches))
        let lane = try #require(WorkerScore(scoreboard: scoreboard, entry: laneEntry))
        lane.begin(requestID: "b", method: "POST", uri: "/api/batches", nowMicroseconds: 0)
        #expect(scoreboard.figure(.batchMaxChildrenReached) == 1)
        #expect(scoreboard.figure(.maxChildrenReached) == 0)
        first.begin(requestID: "a", method: "GET", uri: "/api/users", nowMicroseconds: 0)
        #expect(scoreboard.figure(.maxChildrenReached) == 0)
        let snapshot = scoreboard.snapshot()
        #expect(snapshot.activeProcesses[.batches] == 1 && snapshot.activeProcesses[.main] == 1)
        #expect(snapshot.idleProcesses[.main] == 1 && snapshot.idleProcesses[.batches] == nil)
        #expect(snapshot.totalActive == 2 && snapshot.totalIdle == 1)
        #expect(report.statusJSON(snapshot, now: 0).contains("\"total_processes\":3"))
        let metrics = PoolReport(pool: "tally", listen: "/t.sock", batchListen: "/t-batches.sock", routeLabels: [])
            .metricsText(snapshot)
        #expect(metrics.contains("tally_pool_batch_lane_info{listen=\"/t-batches.sock\"} 1\n"))
        #expect(metrics.contains("tally_pool_batch_max_children_reached_total 1\n"))
        #expect(metrics.contains("tally_pool_processes{lane=\"batches\",state=\"active\"} 1\n"))
        #expect(metrics.contains("tally_pool_processes{lane=\"main\",state=\"idle\"} 1\n"))
    }

    @Test("a worker's entry is handed out again with the lane of the worker that takes it")
    func entryTakesTheNewWorkersLane() throws {
        let (scoreboard, _, _) = try board()
        let laneEntry = try #require(scoreboard.claimEntry(lane: .batches))
        #expect(scoreboard.lane(ofEntry: laneEntry) == .batches)
        scoreboard.releaseEntry(laneEntry)
        #expect(scoreboard.claimEntry() == laneEntry)
        #expect(scoreboard.lane(ofEntry: laneEntry) == .main)
    }

    @Test("the supervisor sees a running request with its id, and logs it slow once")
    func runningRequests() throws {
        let (scoreboard, first, _) = try board()
        scoreboard.assign(0, to: 4242)
        first.begin(requestID: "req-1", method: "POST", uri: "/api/transfers", nowMicroseconds: 77)
        let running = try #require(scoreboard.runningRequests().first)
        #expect(running.pid == 4242 && running.requestID == "req-1" && running.requestLine == "POST /api/transfers")
        #expect(running.startedMicroseconds == 77)
        #expect(scoreboard.markSlow(running))
        #expect(!scoreboard.markSlow(running))
        first.end(route: 1, status: 201, microseconds: 1)
        #expect(scoreboard.runningRequests().isEmpty)
    }

    @Test("an entry keeps its counters when its process dies and the next one takes it over")
    func countersSurviveReplacement() throws {
        let (scoreboard, first, _) = try board()
        first.begin(requestID: "a", method: "GET", uri: "/api/users", nowMicroseconds: 0)
        first.end(route: 0, status: 200, microseconds: 10)
        scoreboard.releaseEntry(0)
        #expect(scoreboard.snapshot().totalIdle == 1)
        #expect(scoreboard.claimEntry() == 0)
        #expect(scoreboard.snapshot()[.accepted] == 1)
    }

    @Test("a worker inherits the scoreboard through its file descriptor")
    func attachesThroughDescriptor() throws {
        let (scoreboard, first, _) = try board()
        first.add(.databaseReconnects, 3)
        let attached = try #require(Scoreboard.attach(fileDescriptor: scoreboard.fileDescriptor))
        #expect(attached.snapshot()[.databaseReconnects] == 3)
        let notABoard = open("/dev/null", O_RDONLY)
        defer { close(notABoard) }
        #expect(Scoreboard.attach(fileDescriptor: notABoard) == nil)
    }

    @Test("status JSON has php-fpm's fields and Tally's")
    func statusJSON() throws {
        let (scoreboard, first, _) = try board()
        scoreboard.set(.startTime, 1_000)
        first.begin(requestID: "a", method: "GET", uri: "/api/users", nowMicroseconds: 0)
        let json = report.statusJSON(scoreboard.snapshot(), now: 1_060)
        for field in [
            "\"pool\":\"tally\"", "\"process_manager\":\"static\"", "\"start_time\":1000", "\"start_since\":60",
            "\"accepted_conn\":1", "\"active_processes\":1", "\"idle_processes\":1", "\"total_processes\":2",
            "\"listen_queue\":0", "\"max_listen_queue\":0", "\"max_children_reached\":0", "\"slow_requests\":0",
            "\"movements\":0", "\"serialization_retries\":0", "\"retries_exhausted\":0", "\"database_reconnects\":0",
        ] {
            #expect(json.contains(field), "missing \(field) in \(json)")
        }
    }

    @Test("metrics count requests by route and status, and the histogram is cumulative")
    func metricsText() throws {
        let (scoreboard, first, _) = try board()
        for microseconds: Int64 in [500, 3_000, 3_000, 2_000_000] {
            first.begin(requestID: "a", method: "POST", uri: "/api/transfers", nowMicroseconds: 0)
            first.end(route: report.routeIndex("POST /api/transfers"), status: 201, microseconds: microseconds)
        }
        first.begin(requestID: "b", method: "GET", uri: "/nowhere", nowMicroseconds: 0)
        first.end(route: report.routeIndex(nil), status: 404, microseconds: 10)
        let text = report.metricsText(scoreboard.snapshot())
        #expect(text.contains("tally_requests_total{route=\"POST /api/transfers\",status=\"201\"} 4\n"))
        #expect(text.contains("tally_requests_total{route=\"other\",status=\"404\"} 1\n"))
        #expect(text.contains("tally_request_duration_seconds_bucket{route=\"POST /api/transfers\",le=\"0.001\"} 1\n"))
        #expect(text.contains("tally_request_duration_seconds_bucket{route=\"POST /api/transfers\",le=\"0.005\"} 3\n"))
        #expect(text.contains("tally_request_duration_seconds_bucket{route=\"POST /api/transfers\",le=\"1\"} 3\n"))
        #expect(text.contains("tally_request_duration_seconds_bucket{route=\"POST /api/transfers\",le=\"+Inf\"} 4\n"))
        #expect(text.contains("tally_request_duration_seconds_sum{route=\"POST /api/transfers\"} 2.006500\n"))
        #expect(text.contains("# TYPE tally_request_duration_seconds histogram\n"))
    }
}

@Suite("Listening addresses")
struct ListenerTests {
    @Test("HOST:PORT, [IPv6]:PORT and a bare port (which means 127.0.0.1, never every interface)")
    func parsesAddresses() throws {
        #expect(try TCPListener.split("127.0.0.1:9000") == ("127.0.0.1", "9000"))
        #expect(try TCPListener.split("[::1]:9000") == ("::1", "9000"))
        #expect(try TCPListener.split("9000") == ("127.0.0.1", "9000"))
        #expect(try TCPListener.split("0.0.0.0:80") == ("0.0.0.0", "80"))
    }

    @Test(
        "addresses without a valid port are refused",
        arguments: ["", "foo", ":9000", "host:", "1.2.3.4:99999", "::1:80", "[::1]"])
    func refusesBadAddresses(_ text: String) {
        #expect(throws: ListenerError.self) { try TCPListener.split(text) }
    }

    @Test("the batch lane's default socket is named after the main one, beside it")
    func batchSocketBesideTheMainOne() {
        #expect(
            UnixSocketListener.siblingPath(of: "/run/tally/tally.sock", suffix: "-batches")
                == "/run/tally/tally-batches.sock")
        #expect(UnixSocketListener.siblingPath(of: "/run/pool", suffix: "-batches") == "/run/pool-batches")
    }

    @Test("a TCP port another listener holds is an error, not an exit")
    func refusesTakenPort() throws {
        let first = try TCPListener(address: "127.0.0.1:0")
        defer { first.close() }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(first.fileDescriptor, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        #expect(throws: SystemError.self) { try TCPListener(address: "127.0.0.1:\(port)") }
    }

    @Test("a unix socket a live pool listens on is refused; a stale one is replaced")
    func unixSocketOwnership() throws {
        let path = "/tmp/tally-test-\(getpid()).sock"
        let live = try UnixSocketListener(path: path, mode: 0o600, group: nil)
        #expect(throws: ListenerError.socketInUse(path)) { try UnixSocketListener(path: path, mode: 0o600, group: nil) }
        _ = Glibc.close(live.fileDescriptor)  // the pool died without removing its socket
        let again = try UnixSocketListener(path: path, mode: 0o600, group: nil)
        again.close()
    }
}
