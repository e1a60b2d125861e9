package cn.xuncha.app.core

import cn.xuncha.ffi.DeviceSession
import cn.xuncha.ffi.RefreshToken
import cn.xuncha.ffi.Role
import cn.xuncha.ffi.UserInfo
import cn.xuncha.ffi.XunchaException
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.IOException

/**
 * Where the app keeps the signed-in device's [DeviceSession] between process starts. The Rust
 * library keeps it in memory only; it holds the long-lived refresh token, so an implementation
 * must keep it encrypted at rest with a key that never leaves the device
 * (`platform/KeystoreSessionStore.kt` on Android) and must never log it.
 */
interface SessionStore {
    /** The stored session, or null if there is none or it can no longer be read (sign in again). */
    fun load(): DeviceSession?

    /** Replaces the stored session. Throws [SessionStoreException] if it cannot be kept. */
    fun save(session: DeviceSession)

    /** Forgets the stored session (sign-out, revoked device). */
    fun clear()
}

/** The session could not be stored or read back (keystore or disk failure). */
class SessionStoreException(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * The session's bytes for a [SessionStore] to encrypt: a version byte, then the fields as
 * modified UTF-8 (`DataOutputStream`, in the JDK and on Android alike).
 */
object SessionCodec {
    private const val VERSION = 1

    fun encode(session: DeviceSession): ByteArray {
        val bytes = ByteArrayOutputStream()
        DataOutputStream(bytes).use { out ->
            out.writeByte(VERSION)
            out.writeUTF(session.serverUrl)
            out.writeUTF(session.deviceId)
            out.writeUTF(session.refreshToken.expose())
            out.writeUTF(session.user.userId)
            out.writeUTF(session.user.username)
            out.writeUTF(session.user.displayName)
            out.writeUTF(session.user.role.name)
            out.writeUTF(session.user.unitId)
        }
        return bytes.toByteArray()
    }

    fun decode(bytes: ByteArray): DeviceSession =
        try {
            DataInputStream(ByteArrayInputStream(bytes)).use { input ->
                val version = input.readByte().toInt()
                if (version != VERSION) throw SessionStoreException("stored session has unknown version $version")
                val serverUrl = input.readUTF()
                val deviceId = input.readUTF()
                val token = RefreshToken(input.readUTF())
                val user = UserInfo(
                    userId = input.readUTF(),
                    username = input.readUTF(),
                    displayName = input.readUTF(),
                    role = Role.valueOf(input.readUTF()),
                    unitId = input.readUTF(),
                )
                DeviceSession(serverUrl, deviceId, token, user)
            }
        } catch (e: IOException) {
            throw SessionStoreException("stored session is truncated", e)
        } catch (e: IllegalArgumentException) {
            throw SessionStoreException("stored session names an unknown role", e)
        } catch (e: XunchaException) {
            throw SessionStoreException("stored session holds an unusable token", e)
        }
}

/**
 * Keeps the encoded session in memory only (the JVM tests; a kiosk build that must sign in on
 * every start). Goes through [SessionCodec] like the Keystore store, minus the encryption.
 */
class InMemorySessionStore : SessionStore {
    @Volatile
    private var encoded: ByteArray? = null

    override fun load(): DeviceSession? = encoded?.let(SessionCodec::decode)

    override fun save(session: DeviceSession) {
        encoded = SessionCodec.encode(session)
    }

    override fun clear() {
        encoded = null
    }
}
