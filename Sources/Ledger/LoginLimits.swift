/// How failed log-ins lock a username, whatever address they come from: after `failuresBeforeLock` failures
/// within `windowSeconds`, log-ins for that username are refused (429, before any password check) for
/// `firstLockSeconds`; each further lock lasts twice as long as the one before, up to `longestLockSeconds`.
/// A successful log-in clears it all; so does `forgetAfterSeconds` without a failure. Unknown usernames count
/// like known ones, so the limit tells nothing about which exist.
package struct LoginLimits: Sendable, Equatable {
    package var failuresBeforeLock: Int
    package var windowSeconds: Int
    package var firstLockSeconds: Int
    package var longestLockSeconds: Int
    package var forgetAfterSeconds: Int

    package init(
        failuresBeforeLock: Int = 10, windowSeconds: Int = 60, firstLockSeconds: Int = 60,
        longestLockSeconds: Int = 900, forgetAfterSeconds: Int = 3600
    ) {
        self.failuresBeforeLock = failuresBeforeLock
        self.windowSeconds = windowSeconds
        self.firstLockSeconds = firstLockSeconds
        self.longestLockSeconds = longestLockSeconds
        self.forgetAfterSeconds = forgetAfterSeconds
    }
}
