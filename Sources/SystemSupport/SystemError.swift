import Glibc

/// A failed system call, with its error turned into words at the place it failed.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The error's number, and which table of numbers it comes from.
    public enum Code: Equatable, Sendable {
        /// errno, as the failed call left it.
        case errno(Int32)
        /// getaddrinfo's EAI_* status, which is not an errno (gai_strerror explains it).
        case addressLookup(Int32)
    }

    /// What failed, on what: "bind 127.0.0.1:9000", "open /var/spool/tally/spool".
    public let operation: String
    public let code: Code

    /// The failure of a call that sets errno.
    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.code = .errno(errno)
    }

    /// A getaddrinfo failure: its status, or errno when the status is EAI_SYSTEM (the real cause is there).
    public init(_ operation: String, addressLookupStatus status: Int32) {
        self.operation = operation
        self.code = status == EAI_SYSTEM ? .errno(Glibc.errno) : .addressLookup(status)
    }

    public var description: String {
        switch code {
        case .errno(let number): "\(operation): \(String(cString: strerror(number)))"
        case .addressLookup(let status): "\(operation): \(String(cString: gai_strerror(status)))"
        }
    }
}
