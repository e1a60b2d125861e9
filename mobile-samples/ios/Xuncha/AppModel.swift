import BackgroundTasks
import Foundation
import UIKit

/// Runs a blocking core call (SQLite, photo re-encoding) off the main thread.
func background<T>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: .userInitiated) { try work() }.value
}

/// What the user reads when a call fails (Chinese); nothing captured is ever lost.
func messageZh(_ error: Error) -> String {
    guard let e = error as? XunchaError else { return error.localizedDescription }
    switch e {
    case .Network: return "网络不可用，记录已保存在手机上，联网后自动上传"
    case .Unauthenticated: return "登录已失效，请重新登录"
    case let .NotAllowed(code, _): return "当前身份不能执行此操作（\(code)）"
    case let .InvalidInput(_, detail): return "输入有误：\(detail)"
    case let .NotFound(code, _): return "未找到（\(code)）"
    case let .Server(code, _): return "服务器暂时无法处理（\(code)），稍后重试"
    case let .Storage(code, detail): return "手机存储出错（\(code)）：\(detail)"
    }
}

/// Sync progress from the Rust core (the `SyncListener` foreign trait), forwarded to the UI.
final class ProgressForwarder: SyncListener, @unchecked Sendable {
    let onUpdate: @Sendable (SyncProgress) -> Void
    init(_ onUpdate: @escaping @Sendable (SyncProgress) -> Void) { self.onUpdate = onUpdate }
    func onProgress(progress: SyncProgress) { onUpdate(progress) }
}

@MainActor
final class AppModel: ObservableObject {
    static let shared = AppModel()
    static let syncTaskId = "cn.xuncha.app.sync"

    let client: XunchaClient
    /// The library's HTTP goes through iOS's URLSession (photo parts in a background session).
    let transport = URLSessionTransport()
    /// The device session lives in the Keychain; the Rust library keeps it in memory only.
    private let sessions = KeychainSessionStore()
    @Published var user: UserInfo?
    /// After sign-out: what the user should know (the server was not told). Shown on sign-in.
    @Published var notice: String?
    /// The device id of the session the core holds now: a sync that started with an older
    /// session and fails after a new sign-in must not sign the new one out.
    private var deviceId: String?
    @Published var syncing = false
    @Published var syncText = ""
    /// Bumped after every write or sync so lists reload.
    @Published var revision = 0

    private init() {
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        do {
            client = try XunchaClient(dbPath: dir.appendingPathComponent("xuncha.db").path, transport: transport)
        } catch {
            // The store is the app: without it nothing can be saved. Show why and stop.
            fatalError("本地数据库无法打开：\(messageZh(error))")
        }
        // Launched by the user or by BGTaskScheduler: either way, sign back in from the Keychain
        // (one small item; `resume` itself does no I/O).
        restoreSession()
    }

    /// Hands the Keychain's session to the core if it is not signed in yet. A session the core
    /// refuses (malformed) is deleted: the user signs in again.
    func restoreSession() {
        if client.currentUser() == nil, let stored = sessions.load() {
            do {
                try client.resume(session: stored)
                deviceId = stored.deviceId
            } catch {
                try? sessions.clear()
            }
        }
        user = client.currentUser()
    }

    func signIn(server: String, username: String, password: String) async throws {
        let session = try await client.enrol(serverUrl: server, username: username, password: password,
                                             deviceName: UIDevice.current.name)
        do {
            try sessions.save(session)
        } catch {
            // A sign-in that would not survive a relaunch (no background sync) is undone, and
            // the device revoked again: nothing could ever use it.
            _ = try? await client.signOut()
            throw error
        }
        deviceId = session.deviceId
        user = session.user
        notice = nil
        revision += 1
    }

    /// What only this phone holds, e.g. "还有 2 条未同步记录、1 张未上传照片", or nil. Shown before
    /// sign-out: these stay on the phone until their author signs in again (a sync pushes only the
    /// signed-in user's own records).
    func unsentWarning() -> String? {
        guard let counts = try? client.outboxCounts() else { return nil }
        let events = counts.pending + counts.inFlight
        let photos = counts.photosPending
        switch (events, photos) {
        case (0, 0): return nil
        case (_, 0): return "还有 \(events) 条未同步记录"
        case (0, _): return "还有 \(photos) 张未上传照片"
        default: return "还有 \(events) 条未同步记录、\(photos) 张未上传照片"
        }
    }

    /// Signs out: the core asks the server to revoke this device (best effort) and forgets the
    /// session; the Keychain item is deleted either way. Cases and unsent events stay.
    func signOut() async {
        deviceId = nil
        user = nil
        let outcome = try? await client.signOut()
        try? sessions.clear()
        if case .forgottenLocallyOnly = outcome {
            notice = "已在本机退出登录，但未能通知服务器停用此设备（网络不可用）。如手机遗失，请联系管理员停用。"
        }
        revision += 1
    }

    func changed() { revision += 1 }

    func syncNow() async {
        guard !syncing else { return }
        syncing = true
        defer { syncing = false; revision += 1 }
        let listener = ProgressForwarder { p in
            Task { @MainActor in
                switch p.phase {
                case .pushEvents: AppModel.shared.syncText = "正在上传记录 \(p.done)/\(p.total)"
                case .uploadPhotos: AppModel.shared.syncText = "正在上传照片 \(p.done)/\(p.total)"
                case .pull: AppModel.shared.syncText = "正在获取更新"
                }
            }
        }
        let syncedDevice = deviceId
        // The server rotates the refresh token on every refresh: after every sync, failed or not,
        // the Keychain gets the session the core holds now if it changed (a spent token sent
        // again revokes the device, REFRESH_TOKEN_REUSED).
        defer { keepRotatedSession(syncedDevice) }
        do {
            _ = try await client.sync(listener: listener)
            syncText = "同步完成"
        } catch let XunchaError.Unauthenticated(code, _)
                    where code == "REVOKED" || code == "REFRESH_INVALID" || code == "REFRESH_TOKEN_REUSED" {
            // The server refuses this device for good: the stored session can never work again.
            // Only if it is still the current one (the user may have signed in anew meanwhile).
            if deviceId == syncedDevice { await signOut() }
            syncText = "登录已失效，请重新登录"
        } catch {
            syncText = messageZh(error)
        }
    }

    private func keepRotatedSession(_ syncedDevice: String?) {
        guard let current = client.currentSession(), current.deviceId == syncedDevice,
              deviceId == syncedDevice else { return }
        if sessions.load()?.refreshToken.expose() != current.refreshToken.expose() {
            try? sessions.save(current)
        }
    }

    // MARK: background sync (BGTaskScheduler)

    func scheduleBackgroundSync() {
        let request = BGProcessingTaskRequest(identifier: Self.syncTaskId)
        request.requiresNetworkConnectivity = true
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    nonisolated func handleBackgroundSync(_ task: BGProcessingTask) {
        Task { @MainActor in
            scheduleBackgroundSync()
            // The process may have started before the first unlock, when the Keychain item was
            // not readable yet: try again now.
            restoreSession()
            let work = Task { await self.syncNow() }
            // Swift cancellation does not drop the Rust future; the core's sync is safe to stop
            // at any point and to run again, so expiring just ends the task.
            task.expirationHandler = { work.cancel() }
            await work.value
            task.setTaskCompleted(success: !syncText.hasPrefix("网络"))
        }
    }
}
