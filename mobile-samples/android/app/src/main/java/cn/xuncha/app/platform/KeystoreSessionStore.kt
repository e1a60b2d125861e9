package cn.xuncha.app.platform

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.AtomicFile
import android.util.Log
import cn.xuncha.app.core.SessionCodec
import cn.xuncha.app.core.SessionStore
import cn.xuncha.app.core.SessionStoreException
import cn.xuncha.ffi.DeviceSession
import java.io.File
import java.io.FileNotFoundException
import java.io.IOException
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Keeps the [DeviceSession] (and so the device's long-lived refresh token) encrypted with
 * AES-256-GCM under a key generated inside the Android Keystore: the key is non-exportable
 * (hardware-backed where the phone has a TEE), so the file alone — from a backup, a rooted copy
 * of the app folder — decrypts to nothing.
 *
 * Why the Keystore directly and not androidx.security's EncryptedSharedPreferences: that library
 * (security-crypto, `MasterKey`) is deprecated (1.1.0-alpha07, 2025) and gets no fixes; what it
 * did for one small record is these fifty lines over platform APIs present since API 23, with
 * no extra dependency.
 *
 * The key requires neither user authentication nor an unlocked screen: WorkManager must be able
 * to sync while the phone is locked in a pocket. The file is in `noBackupFilesDir` (never
 * backed up: on another phone the key does not exist anyway). If the key is gone (reset lock
 * screen, restored phone) or the file does not verify, the session is deleted and the user
 * signs in again. Nothing here logs the token; failures log only the exception type.
 *
 * Not compiled here (no Android SDK); the codec and the repository logic around it are
 * JVM-tested in bindings/kotlin (`SessionStoreTest`, `AppCoreTest`).
 */
class KeystoreSessionStore(context: Context) : SessionStore {
    private val file = AtomicFile(File(context.noBackupFilesDir, "xuncha-session.bin"))

    @Synchronized
    override fun load(): DeviceSession? {
        val sealed = try {
            file.readFully()
        } catch (e: FileNotFoundException) {
            return null
        } catch (e: IOException) {
            Log.w(TAG, "session file unreadable (${e.javaClass.simpleName}): sign in again")
            return null
        }
        return try {
            SessionCodec.decode(open(sealed))
        } catch (e: GeneralSecurityException) {
            // KeyPermanentlyInvalidatedException, AEADBadTagException, a missing key …
            Log.w(TAG, "stored session cannot be decrypted (${e.javaClass.simpleName}): sign in again")
            clear()
            null
        } catch (e: SessionStoreException) {
            Log.w(TAG, "stored session malformed: sign in again")
            clear()
            null
        }
    }

    @Synchronized
    override fun save(session: DeviceSession) {
        val plain = SessionCodec.encode(session)
        val sealed = try {
            seal(plain)
        } catch (e: GeneralSecurityException) {
            throw SessionStoreException("Keystore refused to encrypt the session", e)
        } finally {
            plain.fill(0)
        }
        val out = try {
            file.startWrite()
        } catch (e: IOException) {
            throw SessionStoreException("cannot write the session file", e)
        }
        try {
            out.write(sealed)
            file.finishWrite(out)
        } catch (e: IOException) {
            file.failWrite(out)
            throw SessionStoreException("cannot write the session file", e)
        }
    }

    @Synchronized
    override fun clear() {
        file.delete()
    }

    /** `[version][12-byte IV][ciphertext + 16-byte tag]`, the record's purpose bound as AAD. */
    private fun seal(plain: ByteArray): ByteArray {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key()) // the Keystore picks a fresh random IV
        cipher.updateAAD(AAD)
        val body = cipher.doFinal(plain)
        val iv = cipher.iv
        check(iv.size == IV_BYTES) { "unexpected GCM IV size ${iv.size}" }
        return byteArrayOf(FORMAT) + iv + body
    }

    private fun open(sealed: ByteArray): ByteArray {
        if (sealed.size < 1 + IV_BYTES + TAG_BITS / 8 || sealed[0] != FORMAT) {
            throw SessionStoreException("session file has an unknown format")
        }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, sealed, 1, IV_BYTES))
        cipher.updateAAD(AAD)
        return cipher.doFinal(sealed, 1 + IV_BYTES, sealed.size - 1 - IV_BYTES)
    }

    /** The app's session key, made inside the Keystore on first use; it never leaves it. */
    private fun key(): SecretKey {
        val keyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }
        (keyStore.getKey(KEY_ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        generator.init(
            KeyGenParameterSpec.Builder(KEY_ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .setRandomizedEncryptionRequired(true)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val TAG = "XunchaSession"
        const val PROVIDER = "AndroidKeyStore"
        const val KEY_ALIAS = "cn.xuncha.app.session.v1"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TAG_BITS = 128
        const val FORMAT: Byte = 1
        val AAD = "cn.xuncha.app/device-session/v1".toByteArray()
    }
}
