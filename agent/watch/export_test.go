package watch

// RetryBase is the wait after a first failed read, for the tests.
const RetryBase = retryBase
