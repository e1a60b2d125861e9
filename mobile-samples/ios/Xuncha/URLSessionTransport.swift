import Foundation

/// The library's HTTP transport over `URLSession` (the `HttpTransport` foreign trait): every sync
/// request of the Rust core goes through iOS's own stack, so the system trust store (with CA
/// profiles installed by device management), App Transport Security, the system proxy and VPN
/// apply, and pinning is the app's (`urlSession(_:didReceive:completionHandler:)` below).
///
/// Photo parts (`HttpBody.filePart`) go through a **background** `URLSession`: iOS keeps sending
/// them after the app is suspended. The part is copied to its own file first (background uploads
/// only send whole files). If the app is suspended or killed before the answer arrives, the Rust
/// call is gone, but the bytes the server received are not: the next sync asks the server how
/// much it holds (`GET /api/v1/photos/{sha}/status`) and resumes from there.
///
/// It only moves bytes: a 4xx/5xx is returned as an `HttpResponse`; only "no answer" throws a
/// `TransportError`. Retries, `Retry-After` and token refresh are the library's. Redirects are
/// never followed (they would carry the bearer token elsewhere).
final class URLSessionTransport: NSObject, HttpTransport, URLSessionDataDelegate, @unchecked Sendable {
    static let backgroundIdentifier = "cn.xuncha.app.photo-parts"

    /// Set by the app delegate's `handleEventsForBackgroundURLSession`; called once iOS has
    /// delivered every background event.
    var backgroundEventsDone: (() -> Void)?

    private let lock = NSLock()
    private var waiting: [Int: CheckedContinuation<HttpResponse, Error>] = [:]
    private var bodies: [Int: Data] = [:]
    private var partFiles: [Int: URL] = [:]
    private let partsDir: URL

    private lazy var foreground: URLSession = {
        let config = URLSessionConfiguration.ephemeral  // no cookies, no cache: tokens stay in memory
        config.waitsForConnectivity = false
        return URLSession(configuration: config, delegate: self, delegateQueue: nil)
    }()

    private lazy var background: URLSession = {
        let config = URLSessionConfiguration.background(withIdentifier: Self.backgroundIdentifier)
        config.sessionSendsLaunchEvents = true
        config.isDiscretionary = false
        config.timeoutIntervalForResource = 24 * 60 * 60
        return URLSession(configuration: config, delegate: self, delegateQueue: nil)
    }()

    override init() {
        partsDir = FileManager.default.temporaryDirectory.appendingPathComponent("xuncha-photo-parts", isDirectory: true)
        super.init()
        try? FileManager.default.createDirectory(at: partsDir, withIntermediateDirectories: true)
        // Reconnects to uploads iOS finished while the app was not running (their answers are
        // dropped: the next sync reads the server's status).
        _ = background
    }

    func send(request: HttpRequest) async throws -> HttpResponse {
        guard let url = URL(string: request.url), let scheme = url.scheme, scheme == "https" || scheme == "http" else {
            throw TransportError.InvalidRequest(reason: "not an http(s) URL: \(request.url)")
        }
        var urlRequest = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData,
                                    timeoutInterval: TimeInterval(request.timeoutMs) / 1000)
        switch request.method {
        case .get: urlRequest.httpMethod = "GET"
        case .post: urlRequest.httpMethod = "POST"
        case .put: urlRequest.httpMethod = "PUT"
        }
        for header in request.headers {
            urlRequest.setValue(header.value, forHTTPHeaderField: header.name)
        }
        switch request.body {
        case .empty:
            return try await run(foreground.dataTask(with: urlRequest))
        case let .bytes(bytes):
            urlRequest.httpBody = bytes
            return try await run(foreground.dataTask(with: urlRequest))
        case let .filePart(path, offset, length):
            let part = try copyPart(path: path, offset: offset, length: length)
            let task = background.uploadTask(with: urlRequest, fromFile: part)
            lock.withLock { partFiles[task.taskIdentifier] = part }
            return try await run(task)
        }
    }

    /// Starts `task` and waits for its delegate callbacks; cancelling the Swift task (the library
    /// dropping the request) cancels it.
    private func run(_ task: URLSessionTask) async throws -> HttpResponse {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                lock.withLock { waiting[task.taskIdentifier] = continuation }
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    /// `length` bytes of the photo file from `offset`, in a file of their own.
    private func copyPart(path: String, offset: UInt64, length: UInt64) throws -> URL {
        do {
            let source = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? source.close() }
            try source.seek(toOffset: offset)
            let data = try source.read(upToCount: Int(length)) ?? Data()
            guard data.count == Int(length) else {
                throw TransportError.FileUnreadable(reason: "\(path): \(length) bytes from \(offset) asked, \(data.count) there")
            }
            let part = partsDir.appendingPathComponent(UUID().uuidString)
            try data.write(to: part, options: .completeFileProtectionUntilFirstUserAuthentication)
            return part
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.FileUnreadable(reason: "\(path): \(error.localizedDescription)")
        }
    }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.withLock { bodies[dataTask.taskIdentifier, default: Data()].append(data) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask,
                    willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
                    completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)  // the 3xx itself is the answer
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        let (continuation, body, part) = lock.withLock {
            (waiting.removeValue(forKey: task.taskIdentifier),
             bodies.removeValue(forKey: task.taskIdentifier) ?? Data(),
             partFiles.removeValue(forKey: task.taskIdentifier))
        }
        if let part { try? FileManager.default.removeItem(at: part) }
        guard let continuation else { return }  // finished after a relaunch: nobody waits
        if let error {
            continuation.resume(throwing: Self.transportError(error))
            return
        }
        guard let http = task.response as? HTTPURLResponse else {
            continuation.resume(throwing: TransportError.Network(reason: "no HTTP answer"))
            return
        }
        let headers = http.allHeaderFields.compactMap { key, value -> HttpHeader? in
            guard let name = key as? String else { return nil }
            return HttpHeader(name: name, value: "\(value)")
        }
        continuation.resume(returning: HttpResponse(status: UInt16(clamping: http.statusCode), headers: headers, body: body))
    }

    func urlSessionDidFinishEvents(forBackgroundURLSession session: URLSession) {
        DispatchQueue.main.async { [weak self] in
            self?.backgroundEventsDone?()
            self?.backgroundEventsDone = nil
        }
    }

    /// Maps URLSession's errors onto the library's: TLS and timeouts keep their kind (all are
    /// retried with backoff), a bad URL is a bug, a missing part file is the photo's problem.
    static func transportError(_ error: Error) -> TransportError {
        let reason = "\(error.localizedDescription)"
        guard let urlError = error as? URLError else { return .Network(reason: reason) }
        switch urlError.code {
        case .timedOut:
            return .Timeout(reason: reason)
        case .secureConnectionFailed, .serverCertificateHasBadDate, .serverCertificateUntrusted,
             .serverCertificateHasUnknownRoot, .serverCertificateNotYetValid,
             .clientCertificateRejected, .clientCertificateRequired, .appTransportSecurityRequiresSecureConnection:
            return .Tls(reason: reason)
        case .cancelled, .backgroundSessionWasDisconnected, .backgroundSessionInUseByAnotherProcess:
            return .Cancelled(reason: reason)
        case .badURL, .unsupportedURL:
            return .InvalidRequest(reason: reason)
        case .fileDoesNotExist, .noPermissionsToReadFile:
            return .FileUnreadable(reason: reason)
        default:
            return .Network(reason: reason)
        }
    }
}
