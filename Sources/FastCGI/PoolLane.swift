/// A group of the pool's workers with a listening socket of its own, like php-fpm's pool per route. nginx sends
/// POST /api/batches to the batch lane's socket and everything else to the main lane's: a batch waits its turn
/// for the batch lock inside its request, and would otherwise hold a worker that single requests need.
package enum PoolLane: Int32, CaseIterable, Sendable {
    case main = 0
    case batches = 1

    /// A worker's name in logs (the request log's `worker`): its slot number in the main lane ("3"), the lane
    /// and its number in another ("batches-0").
    package func slotName(_ number: Int) -> String {
        self == .main ? String(number) : "batches-\(number)"
    }

    /// The lane's name in metrics labels.
    package var label: String { self == .main ? "main" : "batches" }

    /// The scoreboard figures the supervisor keeps for the lane.
    var processes: Scoreboard.Figure { self == .main ? .totalProcesses : .batchProcesses }
    var maxChildrenReached: Scoreboard.Figure { self == .main ? .maxChildrenReached : .batchMaxChildrenReached }
    var listenQueue: Scoreboard.Figure { self == .main ? .listenQueue : .batchListenQueue }
    var maxListenQueue: Scoreboard.Figure { self == .main ? .maxListenQueue : .batchMaxListenQueue }
    var listenQueueLength: Scoreboard.Figure { self == .main ? .listenQueueLength : .batchListenQueueLength }
}
