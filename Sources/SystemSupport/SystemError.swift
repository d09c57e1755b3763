import Glibc

/// A failed system call, with its error turned into words at the place it failed.
package struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The error's number, and which table of numbers it comes from.
    package enum Code: Equatable, Sendable {
        /// errno, as the failed call left it.
        case errno(Int32)
        /// getaddrinfo's EAI_* status, which is not an errno (gai_strerror explains it).
        case addressLookup(Int32)
    }

    /// What failed, on what: "bind 127.0.0.1:9000", "open /var/spool/tally/spool".
    package let operation: String
    package let code: Code

    /// The failure of a call that sets errno.
    package init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.code = .errno(errno)
    }

    /// A getaddrinfo failure: its status, or errno when the status is EAI_SYSTEM (the real cause is there).
    package init(_ operation: String, addressLookupStatus status: Int32) {
        self.operation = operation
        self.code = status == EAI_SYSTEM ? .errno(Glibc.errno) : .addressLookup(status)
    }

    package var description: String {
        switch code {
        case .errno(let number): "\(operation): \(String(cString: strerror(number)))"
        case .addressLookup(let status): "\(operation): \(String(cString: gai_strerror(status)))"
        }
    }
}
