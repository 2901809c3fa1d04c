package org.gridworker.android

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
import kotlinx.coroutines.CancellationException
import org.gridworker.core.GridWorkerException
import org.gridworker.core.SyncEngine
import java.util.concurrent.TimeUnit

/** Implemented by the app's `Application`: the one engine of the logged-in worker, if any. */
interface SyncEngineHolder {
    fun syncEngine(): SyncEngine?
}

/**
 * Runs `sync()` in the background when a network is available. WorkManager persists the
 * request, so records made in a dead zone go out once the phone is back online, even after
 * the app was killed.
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val engine = (applicationContext as? SyncEngineHolder)?.syncEngine() ?: return Result.success()
        return try {
            engine.sync()
            Result.success()
        } catch (e: CancellationException) {
            // WorkManager stopped us (constraints lost, quota): stop the run itself too, since
            // cancelling the coroutine alone does not.
            engine.cancel()
            throw e
        } catch (e: GridWorkerException.Network) {
            Result.retry()
        } catch (e: GridWorkerException.Cancelled) {
            Result.retry()
        } catch (e: GridWorkerException.Authentication) {
            // The app must ask the worker to log in; retrying cannot help.
            Result.failure()
        } catch (e: GridWorkerException) {
            Result.retry()
        }
    }

    companion object {
        private const val PERIODIC = "gridworker-sync-periodic"
        private const val NOW = "gridworker-sync-now"

        private val online = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

        /** A sync every [minutes] (at least 15) while online; call once after login. */
        fun schedulePeriodic(context: Context, minutes: Long = 30) {
            val req = PeriodicWorkRequestBuilder<SyncWorker>(minutes.coerceAtLeast(15), TimeUnit.MINUTES)
                .setConstraints(online)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniquePeriodicWork(PERIODIC, ExistingPeriodicWorkPolicy.KEEP, req)
        }

        /** A sync as soon as a network is there (after recording something). */
        fun syncSoon(context: Context) {
            val req = OneTimeWorkRequestBuilder<SyncWorker>()
                .setConstraints(online)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniqueWork(NOW, ExistingWorkPolicy.REPLACE, req)
        }

        /** On logout / wipe. */
        fun cancelAll(context: Context) {
            WorkManager.getInstance(context).apply {
                cancelUniqueWork(PERIODIC)
                cancelUniqueWork(NOW)
            }
        }
    }
}
