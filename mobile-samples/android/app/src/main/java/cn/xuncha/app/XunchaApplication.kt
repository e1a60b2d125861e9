package cn.xuncha.app

import android.app.Application
import android.os.Build
import cn.xuncha.app.core.HttpUrlConnectionTransport
import cn.xuncha.app.core.SessionStore
import cn.xuncha.app.core.SyncController
import cn.xuncha.app.core.XunchaRepository
import cn.xuncha.app.platform.KeystoreSessionStore
import cn.xuncha.app.sync.SyncScheduler
import cn.xuncha.ffi.XunchaClient

/**
 * Holds the one [XunchaClient] of the process (the Rust store is not meant to be opened twice).
 * Opening it migrates the SQLite file: it happens lazily, first touched from a background thread
 * (the view models call the repository on Dispatchers.IO). The client starts signed out; the
 * session lives encrypted under an Android Keystore key ([KeystoreSessionStore]) and the
 * repository resumes it at start (sign-in screen) and in the WorkManager worker. Every sync request
 * goes through the platform's HTTP stack ([HttpUrlConnectionTransport]): the system trust store,
 * `res/xml/network_security_config.xml`, the system proxy and VPN apply.
 */
class XunchaApplication : Application() {
    val client: XunchaClient by lazy {
        XunchaClient(filesDir.resolve("xuncha.db").absolutePath, HttpUrlConnectionTransport())
    }
    val sessionStore: SessionStore by lazy { KeystoreSessionStore(this) }
    val repository: XunchaRepository by lazy { XunchaRepository(client, sessionStore) }
    val syncController: SyncController by lazy { SyncController(repository) }
    val deviceName: String get() = "${Build.MANUFACTURER} ${Build.MODEL}"

    override fun onCreate() {
        super.onCreate()
        SyncScheduler.schedulePeriodic(this)
    }
}
