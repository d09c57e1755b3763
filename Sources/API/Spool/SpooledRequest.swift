/// A money-moving request accepted while the database was down, as the spool stores it: everything needed to run
/// it later as its caller, except the token itself, of which only the SHA-256 is kept (checked at replay).
public struct SpooledRequest: Equatable, Sendable {
    /// When it was accepted, in seconds since 1970.
    public let acceptedAt: Int64
    public let tokenHash: [UInt8]
    public let idempotencyKey: String
    /// The idempotency fingerprint of what it asks (the operation and its parsed values).
    public let fingerprint: String
    public let method: String
    public let path: String
    public let requestID: String
    public let body: [UInt8]

    public init(
        acceptedAt: Int64, tokenHash: [UInt8], idempotencyKey: String, fingerprint: String, method: String,
        path: String, requestID: String, body: [UInt8]
    ) {
        self.acceptedAt = acceptedAt
        self.tokenHash = tokenHash
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
        self.method = method
        self.path = path
        self.requestID = requestID
        self.body = body
    }

    static let version: UInt8 = 1

    /// The record's payload: a version byte, the time as 8 bytes, then each field as a 4-byte length and its bytes
    /// (all little-endian).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = [Self.version]
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: acceptedAt >> shift)) }
        for field in [
            tokenHash, Array(idempotencyKey.utf8), Array(fingerprint.utf8), Array(method.utf8),
            Array(path.utf8), Array(requestID.utf8), body,
        ] {
            for shift in stride(from: 0, to: 32, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: field.count >> shift))
            }
            bytes += field
        }
        return bytes
    }

    /// Reads a payload back; nil when it is not one this version wrote.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 9, bytes[0] == Self.version else { return nil }
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
            let method = field(), let path = field(), let requestID = field(), let body = field(),
            position == bytes.count
        else { return nil }
        self.init(
            acceptedAt: acceptedAt, tokenHash: tokenHash, idempotencyKey: String(decoding: key, as: UTF8.self),
            fingerprint: String(decoding: fingerprint, as: UTF8.self), method: String(decoding: method, as: UTF8.self),
            path: String(decoding: path, as: UTF8.self), requestID: String(decoding: requestID, as: UTF8.self),
            body: body)
    }
}
