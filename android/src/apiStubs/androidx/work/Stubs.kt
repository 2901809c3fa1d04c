package androidx.work
import android.content.Context
import java.util.concurrent.TimeUnit
class WorkerParameters
abstract class ListenableWorker(val applicationContext: Context, params: WorkerParameters) {
    sealed class Result { class S : Result(); companion object { fun success(): Result = S(); fun retry(): Result = S(); fun failure(): Result = S() } }
}
abstract class CoroutineWorker(context: Context, params: WorkerParameters) : ListenableWorker(context, params) { abstract suspend fun doWork(): Result }
enum class BackoffPolicy { EXPONENTIAL, LINEAR }
enum class NetworkType { CONNECTED }
enum class ExistingWorkPolicy { REPLACE, KEEP, APPEND, APPEND_OR_REPLACE }
enum class ExistingPeriodicWorkPolicy { KEEP, UPDATE }
class Constraints { class Builder { fun setRequiredNetworkType(t: NetworkType) = this; fun build() = Constraints() } }
open class WorkRequest
class OneTimeWorkRequest : WorkRequest()
class PeriodicWorkRequest : WorkRequest()
class OneTimeWorkRequestBuilderImpl { fun setConstraints(c: Constraints) = this; fun setBackoffCriteria(p: BackoffPolicy, d: Long, u: TimeUnit) = this; fun build() = OneTimeWorkRequest() }
class PeriodicWorkRequestBuilderImpl { fun setConstraints(c: Constraints) = this; fun setBackoffCriteria(p: BackoffPolicy, d: Long, u: TimeUnit) = this; fun build() = PeriodicWorkRequest() }
inline fun <reified W : ListenableWorker> OneTimeWorkRequestBuilder() = OneTimeWorkRequestBuilderImpl()
inline fun <reified W : ListenableWorker> PeriodicWorkRequestBuilder(n: Long, u: TimeUnit) = PeriodicWorkRequestBuilderImpl()
class WorkManager { companion object { fun getInstance(c: Context) = WorkManager() }
    fun enqueueUniqueWork(n: String, p: ExistingWorkPolicy, r: OneTimeWorkRequest) {}
    fun enqueueUniquePeriodicWork(n: String, p: ExistingPeriodicWorkPolicy, r: PeriodicWorkRequest) {}
    fun cancelUniqueWork(n: String) {} }
