/// A money-moving request accepted while the database was down, as the spool stores it: everything needed to run
/// it later as its caller, except the token itself, of which only the SHA-256 is kept (checked at replay). The
/// body is the parsed command written compactly (`MovementCommand.compactBody`, `BatchCommand.compactBody` for
/// POST /api/batches), never the client's bytes.
package struct SpooledRequest: Equatable, Sendable {
    /// When it was accepted, in seconds since 1970.
    package let acceptedAt: Int64
    package let tokenHash: [UInt8]
    package let idempotencyKey: String
    /// The idempotency fingerprint of what it asks (the operation and its parsed values), by which a repeat is
    /// told from another request under the same key; a batch's is a digest of it (`BatchCommand.spoolFingerprint`).
    /// The replayer computes the ledger's fingerprint from the body again.
    package let fingerprint: String
    package let method: String
    package let path: String
    package let requestID: String
    package let body: [UInt8]
    /// The client's address (nginx's REMOTE_ADDR; empty when unknown), by which the spool caps what one address
    /// may hold.
    package let clientAddress: String
    /// Sent with the service role's token: not counted against any cap.
    package let isService: Bool

    package init(
        acceptedAt: Int64, tokenHash: [UInt8], idempotencyKey: String, fingerprint: String, method: String,
        path: String, requestID: String, body: [UInt8], clientAddress: String = "", isService: Bool = false
    ) {
        self.acceptedAt = acceptedAt
        self.tokenHash = tokenHash
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
        self.method = method
        self.path = path
        self.requestID = requestID
        self.body = body
        self.clientAddress = clientAddress
        self.isService = isService
    }

    /// Version 2 added the client's address and the service flag; version 1 records (a spool written before) are
    /// still read, as from no address and not the service's.
    static let version: UInt8 = 2

    /// The record's payload: a version byte, the time as 8 bytes, then each field as a 4-byte length and its bytes
    /// (all little-endian), and last a byte, 1 for the service role.
    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = [Self.version]
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: acceptedAt >> shift)) }
        for field in [
            tokenHash, Array(idempotencyKey.utf8), Array(fingerprint.utf8), Array(method.utf8),
            Array(path.utf8), Array(requestID.utf8), body, Array(clientAddress.utf8),
        ] {
            for shift in stride(from: 0, to: 32, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: field.count >> shift))
            }
            bytes += field
        }
        bytes.append(isService ? 1 : 0)
        return bytes
    }

    /// Reads a payload back; nil when it is not one this version wrote.
    package init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 9, bytes[0] == 1 || bytes[0] == Self.version else { return nil }
        let isVersion1 = bytes[0] == 1
        var position = 1
        func integer(_ size: Int) -> Int64? {
            guard bytes.count - position >= size else { return nil }
            defer { position += size }
            return (0..<size).reduce(Int64(0)) { $0 | Int64(bytes[position + $1]) << (8 * $1) }
        }
        func field() -> [UInt8]? {
            guard let length = integer(4).map(Int.init), bytes.count - position >= length else { return nil }
            defer { position += length }
            return Array(bytes[position..<position + length])
        }
        guard let acceptedAt = integer(8), let tokenHash = field(), let key = field(), let fingerprint = field(),
            let method = field(), let path = field(), let requestID = field(), let body = field()
        else { return nil }
        var address: [UInt8] = []
        var isService = false
        if !isVersion1 {
            guard let addressField = field(), bytes.count - position == 1, bytes[position] <= 1 else { return nil }
            address = addressField
            isService = bytes[position] == 1
            position += 1
        }
        guard position == bytes.count else { return nil }
        self.init(
            acceptedAt: acceptedAt, tokenHash: tokenHash, idempotencyKey: String(decoding: key, as: UTF8.self),
            fingerprint: String(decoding: fingerprint, as: UTF8.self), method: String(decoding: method, as: UTF8.self),
            path: String(decoding: path, as: UTF8.self), requestID: String(decoding: requestID, as: UTF8.self),
            body: body, clientAddress: String(decoding: address, as: UTF8.self), isService: isService)
    }
}
