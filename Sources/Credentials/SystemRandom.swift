import CArgon2
import Glibc

/// Bytes from the kernel's random generator (getrandom(2)), for tokens and salts.
public enum SystemRandom {
    public static func bytes(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                getrandom(buffer.baseAddress!.advanced(by: filled), count - filled, 0)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw RandomnessUnavailable(errno: errno)
            }
            filled += result
        }
        return bytes
    }
}

public struct RandomnessUnavailable: Error {
    public let errno: Int32
}
