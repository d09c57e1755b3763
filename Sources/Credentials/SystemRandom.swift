/// Bytes from the kernel's random generator, for tokens and salts: the standard library's
/// SystemRandomNumberGenerator (getrandom(2) on Linux), which stops the process rather than return weak bytes.
package enum SystemRandom {
    package static func bytes(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return Array(bytes.prefix(count))
    }
}
