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
            // A record made while this run was already past its last push is not in it, and
            // `syncSoon` keeps this running work instead of queueing another: run again.
            var runs = 0
            do {
                val seen = requests.get()
                engine.sync()
                runs++
            } while (requests.get() != seen && runs < MAX_RUNS)
            Result.success()
        } catch (e: CancellationException) {
            // WorkManager stopped us (constraints lost, quota, cancelAll): stop the run itself
            // too, since cancelling the coroutine alone does not.
            engine.cancel()
            throw e
        } catch (e: GridWorkerException.Authentication) {
            // The app must ask the worker to log in; retrying cannot help.
            Result.failure()
        } catch (e: GridWorkerException.UpdateRequired) {
            Result.failure()
        } catch (e: GridWorkerException.Locked) {
            // The holder opened the store with a key that is not its key: the app must sort
            // that out (never by wiping); no retry opens it.
            Result.failure()
        } catch (e: GridWorkerException.Storage) {
            // A damaged store waits for recoverStore; a full disk may clear.
            if (e.needsRecovery) Result.failure() else Result.retry()
        } catch (e: GridWorkerException) {
            // Network, Cancelled (engine.cancel() from elsewhere), a store busy in another
            // process, a server fault: everything stays queued.
            Result.retry()
        }
    }

    companion object {
        private const val PERIODIC = "gridworker-sync-periodic"
        private const val NOW = "gridworker-sync-now"
        private const val MAX_RUNS = 5

        /** `syncSoon` calls in this process, so a running work sees those made during it. */
        private val requests = java.util.concurrent.atomic.AtomicLong()

        private val online = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

        /** A sync every [minutes] (at least 15) while online; call once after login. */
        fun schedulePeriodic(context: Context, minutes: Long = 30) {
            val req = PeriodicWorkRequestBuilder<SyncWorker>(minutes.coerceAtLeast(15), TimeUnit.MINUTES)
                .setConstraints(online)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniquePeriodicWork(PERIODIC, ExistingPeriodicWorkPolicy.KEEP, req)
        }

        /**
         * A sync as soon as a network is there (after recording something). A work already
         * queued or running is kept, never replaced: replacing a running work would cancel
         * the sync run it is in (a photo upload starts over) at every new record. A running
         * work syncs again when asked during its run.
         */
        fun syncSoon(context: Context) {
            requests.incrementAndGet()
            val req = OneTimeWorkRequestBuilder<SyncWorker>()
                .setConstraints(online)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniqueWork(NOW, ExistingWorkPolicy.KEEP, req)
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
