import Foundation
import Security

/// Keeps the signed-in device's `DeviceSession` (and so its long-lived refresh token) in the
/// Keychain; the Rust library keeps it in memory only and the app hands it back with
/// `XunchaClient.resume(session:)` at launch and in the background task.
///
/// One generic-password item, `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: readable
/// after the first unlock since boot, so a BGTaskScheduler sync can run while the phone is
/// locked; "ThisDeviceOnly" keeps it out of iCloud Keychain and out of backups restored to
/// another phone. Nothing here logs the token. Not compiled here (no Xcode on Linux); written
/// against the generated `XunchaCore.swift`.
struct KeychainSessionStore {
    enum StoreError: Error {
        case keychain(OSStatus)
    }

    private let service = "cn.xuncha.app.session"
    private let account = "device"

    /// The stored session, or nil if there is none or it no longer decodes (then it is deleted
    /// and the user signs in again).
    func load() -> DeviceSession? {
        var query = baseQuery()
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        guard SecItemCopyMatching(query as CFDictionary, &result) == errSecSuccess,
              let data = result as? Data
        else { return nil }
        guard let stored = try? JSONDecoder().decode(StoredSession.self, from: data),
              let session = try? stored.session()
        else {
            try? clear()
            return nil
        }
        return session
    }

    /// Replaces the stored session.
    func save(_ session: DeviceSession) throws {
        let data = try JSONEncoder().encode(StoredSession(session))
        let attributes: [String: Any] = [
            kSecValueData as String: data,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
        ]
        var status = SecItemUpdate(baseQuery() as CFDictionary, attributes as CFDictionary)
        if status == errSecItemNotFound {
            var add = baseQuery()
            add.merge(attributes) { _, new in new }
            status = SecItemAdd(add as CFDictionary, nil)
        }
        guard status == errSecSuccess else { throw StoreError.keychain(status) }
    }

    /// Forgets the stored session (sign-out, revoked device).
    func clear() throws {
        let status = SecItemDelete(baseQuery() as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw StoreError.keychain(status)
        }
    }

    private func baseQuery() -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
    }
}

/// The Keychain item's contents. The generated `DeviceSession` is not `Codable` (it holds the
/// `RefreshToken` object), so it is mirrored field by field.
private struct StoredSession: Codable {
    let serverUrl: String
    let deviceId: String
    let refreshToken: String
    let userId: String
    let username: String
    let displayName: String
    let role: String
    let unitId: String

    init(_ session: DeviceSession) {
        serverUrl = session.serverUrl
        deviceId = session.deviceId
        refreshToken = session.refreshToken.expose()
        userId = session.user.userId
        username = session.user.username
        displayName = session.user.displayName
        role = Self.code(session.user.role)
        unitId = session.user.unitId
    }

    struct UnknownRole: Error {}

    func session() throws -> DeviceSession {
        guard let role = Self.role(role) else { throw UnknownRole() }
        return DeviceSession(
            serverUrl: serverUrl,
            deviceId: deviceId,
            refreshToken: try RefreshToken(value: refreshToken),
            user: UserInfo(userId: userId, username: username, displayName: displayName,
                           role: role, unitId: unitId)
        )
    }

    private static let allRoles: [Role] = [.inspector, .companyStaff, .committee, .streetOffice, .department, .admin]

    /// The core's role codes (`xuncha_core::org::Role::code`). Exhaustive: a new role in the core fails the build here.
    private static func code(_ role: Role) -> String {
        switch role {
        case .inspector: return "inspector"
        case .companyStaff: return "company_staff"
        case .committee: return "committee"
        case .streetOffice: return "street_office"
        case .department: return "department"
        case .admin: return "admin"
        }
    }

    private static func role(_ code: String) -> Role? {
        allRoles.first { Self.code($0) == code }
    }
}
