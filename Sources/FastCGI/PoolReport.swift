import Glibc

/// The pool's figures as pages: /api/status (JSON, php-fpm's status fields plus Tally's own) and
/// /api/metrics (Prometheus text). Any worker renders them from the shared scoreboard, so they are the whole
/// pool's figures, not the answering worker's.
package struct PoolReport {
    package let pool: String
    package let listen: String
    /// The batch lane's address; empty when the pool has no batch lane.
    package let batchListen: String
    /// The metrics label of each route index; the last index is "other".
    package let routeLabels: [String]

    package init(pool: String, listen: String, batchListen: String = "", routeLabels: [String]) {
        self.pool = pool
        self.listen = listen
        self.batchListen = batchListen
        self.routeLabels = routeLabels
    }

    /// The route index for a label; unknown labels and nil count under "other", the last index.
    package func routeIndex(_ label: String?) -> Int {
        label.flatMap { routeLabels.firstIndex(of: $0) } ?? Scoreboard.routeCapacity - 1
    }

    private func label(_ index: Int) -> String {
        index < routeLabels.count && index < Scoreboard.routeCapacity - 1 ? routeLabels[index] : "other"
    }

    /// php-fpm's status fields (with underscores), then Tally's; `now` is unix seconds. The process counts are
    /// the whole pool's (both lanes); the listen queue and max children reached are the main lane's (the batch
    /// lane's own figures are in the metrics).
    package func statusJSON(_ snapshot: PoolSnapshot, now: Int64) -> String {
        let start = snapshot[.startTime]
        let fields: [(String, String)] = [
            ("pool", Self.quoted(pool)),
            ("process_manager", Self.quoted("static")),
            ("listen", Self.quoted(listen)),
            ("start_time", String(start)),
            ("start_since", String(max(0, now - start))),
            ("accepted_conn", String(snapshot[.accepted])),
            ("listen_queue", String(snapshot[.listenQueue])),
            ("max_listen_queue", String(snapshot[.maxListenQueue])),
            ("listen_queue_len", String(snapshot[.listenQueueLength])),
            ("idle_processes", String(snapshot.totalIdle)),
            ("active_processes", String(snapshot.totalActive)),
            ("total_processes", String(snapshot.totalIdle + snapshot.totalActive)),
            ("max_active_processes", String(snapshot[.maxActive])),
            ("max_children_reached", String(snapshot[.maxChildrenReached])),
            ("slow_requests", String(snapshot[.slowRequests])),
            ("movements", String(snapshot[.movements])),
            ("serialization_retries", String(snapshot[.serializationRetries])),
            ("retries_exhausted", String(snapshot[.retriesExhausted])),
            ("database_reconnects", String(snapshot[.databaseReconnects])),
            ("deadline_kills", String(snapshot[.deadlineKills])),
            ("worker_deaths", String(snapshot[.workerDeaths])),
            ("spool_depth", String(snapshot[.spoolDepth])),
            ("spool_oldest_age", String(Self.spoolOldestAge(snapshot, now: now))),
        ]
        return "{" + fields.map { "\(Self.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}\n"
    }

    /// Prometheus text exposition format 0.0.4.
    package func metricsText(_ snapshot: PoolSnapshot) -> String {
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { text += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        func single(_ name: String, _ type: String, _ help: String, _ value: some BinaryInteger) {
            metric(name, type, help, [("", String(value))])
        }

        var requestSamples: [(String, String)] = []
        var histogramSamples: [(String, String)] = []
        for route in 0..<snapshot.requests.count {
            let routeLabel = "route=\(Self.quoted(label(route)))"
            for (status, count) in snapshot.requests[route].enumerated() where count > 0 {
                let code = status < StatusTable.codes.count ? String(StatusTable.codes[status]) : "other"
                requestSamples.append(("{\(routeLabel),status=\"\(code)\"}", String(count)))
            }
            let buckets = snapshot.latencyBuckets[route]
            let total = buckets.reduce(0, +)
            guard total > 0 else { continue }
            var cumulative: UInt64 = 0
            for (index, count) in buckets.enumerated() {
                cumulative += count
                let bound = index < LatencyBuckets.bounds.count ? Self.decimal(LatencyBuckets.bounds[index]) : "+Inf"
                histogramSamples.append(("_bucket{\(routeLabel),le=\"\(bound)\"}", String(cumulative)))
            }
            let sumMicroseconds = snapshot.latencySumMicroseconds[route]
            histogramSamples.append(("_sum{\(routeLabel)}", Self.seconds(microseconds: sumMicroseconds)))
            histogramSamples.append(("_count{\(routeLabel)}", String(total)))
        }
        metric("tally_requests_total", "counter", "Requests answered by the pool, by route and status.", requestSamples)
        text += "# HELP tally_request_duration_seconds Time the pool took to answer, by route.\n"
        text += "# TYPE tally_request_duration_seconds histogram\n"
        for sample in histogramSamples { text += "tally_request_duration_seconds\(sample.0) \(sample.1)\n" }

        single("tally_pool_start_time_seconds", "gauge", "When the pool started (unix time).", snapshot[.startTime])
        single("tally_pool_accepted_connections_total", "counter", "Requests accepted.", snapshot[.accepted])
        single(
            "tally_pool_listen_queue", "gauge", "Connections waiting to be accepted by the main lane.",
            snapshot[.listenQueue])
        single(
            "tally_pool_max_listen_queue", "gauge", "Most connections seen waiting since start.",
            snapshot[.maxListenQueue])
        single("tally_pool_listen_queue_length", "gauge", "The listen queue's size.", snapshot[.listenQueueLength])
        metric(
            "tally_pool_processes", "gauge", "Worker processes, by lane and state.",
            PoolLane.allCases.flatMap { lane in
                [
                    ("{lane=\"\(lane.label)\",state=\"idle\"}", String(snapshot.idleProcesses[lane] ?? 0)),
                    ("{lane=\"\(lane.label)\",state=\"active\"}", String(snapshot.activeProcesses[lane] ?? 0)),
                ]
            })
        if !batchListen.isEmpty {
            metric(
                "tally_pool_batch_lane_info", "gauge", "The batch lane's address (POST /api/batches).",
                [("{listen=\(Self.quoted(batchListen))}", "1")])
        }
        single(
            "tally_pool_batch_listen_queue", "gauge", "Batches waiting for a worker of the batch lane.",
            snapshot[.batchListenQueue])
        single(
            "tally_pool_batch_max_listen_queue", "gauge", "Most batches seen waiting since start.",
            snapshot[.batchMaxListenQueue])
        single(
            "tally_pool_batch_listen_queue_length", "gauge", "The batch lane's listen queue's size.",
            snapshot[.batchListenQueueLength])
        single(
            "tally_pool_batch_max_children_reached_total", "counter",
            "Batches accepted while every worker of the batch lane was busy.", snapshot[.batchMaxChildrenReached])
        single(
            "tally_pool_max_active_processes", "gauge", "Most workers busy at once since start.", snapshot[.maxActive])
        single(
            "tally_pool_max_children_reached_total", "counter",
            "Requests accepted while every worker of the main lane was busy.",
            snapshot[.maxChildrenReached])
        single(
            "tally_pool_slow_requests_total", "counter", "Requests that ran past the slow-request threshold.",
            snapshot[.slowRequests])
        single(
            "tally_pool_deadline_kills_total", "counter", "Workers killed for running past the request deadline.",
            snapshot[.deadlineKills])
        single("tally_pool_worker_deaths_total", "counter", "Workers that died unexpectedly.", snapshot[.workerDeaths])
        single("tally_movements_total", "counter", "Money movements committed.", snapshot[.movements])
        single(
            "tally_serialization_retries_total", "counter", "Transactions retried after a serialization failure.",
            snapshot[.serializationRetries])
        single(
            "tally_retries_exhausted_total", "counter", "Requests that failed to serialize on every attempt.",
            snapshot[.retriesExhausted])
        single(
            "tally_database_reconnects_total", "counter", "Database connections made again after one broke.",
            snapshot[.databaseReconnects])
        single(
            "tally_spool_depth", "gauge", "Requests waiting in the spool for the database (store and forward).",
            snapshot[.spoolDepth])
        single(
            "tally_spool_oldest_age_seconds", "gauge", "How long the oldest request in the spool has waited.",
            Self.spoolOldestAge(snapshot, now: Int64(time(nil))))
        return text
    }

    /// Seconds the spool's oldest request has waited; 0 when none waits.
    static func spoolOldestAge(_ snapshot: PoolSnapshot, now: Int64) -> Int64 {
        let oldest = snapshot[.spoolOldest]
        return snapshot[.spoolDepth] > 0 && oldest > 0 ? max(0, now - oldest) : 0
    }

    /// A JSON (and Prometheus label) string: quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Bounds as Prometheus writes them: 0.001, 0.0025, 1, 2.5.
    static func decimal(_ value: Double) -> String {
        let text = String(value)
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    static func seconds(microseconds: UInt64) -> String {
        let fraction = String(microseconds % 1_000_000)
        return "\(microseconds / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }
}
