import CCrypto

/// SHA-256, used to store tokens only as their hash: OpenSSL's libcrypto, which libpq already links.
package enum SHA256 {
    static let digestLength = Int(SHA256_DIGEST_LENGTH)

    package static func hash(_ message: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: digestLength) { digest, count in
            message.withUnsafeBufferPointer { bytes in
                _ = CCrypto.SHA256(bytes.baseAddress, bytes.count, digest.baseAddress)
            }
            count = digestLength
        }
    }
}
