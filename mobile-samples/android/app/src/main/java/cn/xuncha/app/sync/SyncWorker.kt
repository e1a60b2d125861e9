package cn.xuncha.app.sync

import android.content.Context
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import cn.xuncha.app.XunchaApplication
import cn.xuncha.ffi.XunchaException
import java.util.concurrent.TimeUnit

/**
 * Background sync as WorkManager work with constraints: it survives battery saving and Doze
 * (a plain background thread stalls there), and runs only with a network and enough battery.
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as XunchaApplication
        // A background start of the process: sign the core back in from the Keystore first.
        app.repository.restoreSession() ?: return Result.success()
        return app.syncController.syncNow().fold(
            onSuccess = { Result.success() },
            onFailure = { e ->
                when (e) {
                    // Offline or server trouble: WorkManager retries with backoff. Nothing is lost.
                    is XunchaException.Network, is XunchaException.Server -> Result.retry()
                    // Signed out or refused (a revoked device's stored session is deleted by the
                    // repository): retrying will not help until the user signs in again.
                    else -> Result.failure()
                }
            },
        )
    }
}

object SyncScheduler {
    private const val PERIODIC = "xuncha-sync-periodic"
    private const val NOW = "xuncha-sync-now"

    private val constraints = Constraints.Builder()
        .setRequiredNetworkType(NetworkType.CONNECTED)
        .setRequiresBatteryNotLow(true)
        .build()

    fun schedulePeriodic(context: Context) {
        val request = PeriodicWorkRequestBuilder<SyncWorker>(15, TimeUnit.MINUTES)
            .setConstraints(constraints)
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
            .build()
        WorkManager.getInstance(context)
            .enqueueUniquePeriodicWork(PERIODIC, ExistingPeriodicWorkPolicy.KEEP, request)
    }

    /** After a capture: sync as soon as there is a network. */
    fun syncSoon(context: Context) {
        val request = OneTimeWorkRequestBuilder<SyncWorker>()
            .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
            .build()
        WorkManager.getInstance(context).enqueueUniqueWork(NOW, ExistingWorkPolicy.REPLACE, request)
    }
}
