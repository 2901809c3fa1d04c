package org.gridworker.core

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.concurrent.TimeUnit

/**
 * The reference server (`gridworker-server`, built by scripts/test-kotlin.sh) on 127.0.0.1 with
 * the committed small district, one worker token per entry of [tokens].
 */
class ReferenceServer(
    tokens: List<Pair<String, String>> = listOf("w-0001" to "tok-1"),
    minProtocol: Int? = null,
) : AutoCloseable {
    private val process: Process
    val url: String
    private val http = HttpClient.newHttpClient()

    init {
        val bin = System.getProperty("gridworker.server")
            ?: error("system property gridworker.server (path of the gridworker-server binary) is not set")
        val data = TestSupport.tempDir("gw-server")
        val cmd = mutableListOf(
            bin, "--data", data.path, "--listen", "127.0.0.1:0",
            "--fixtures", File(TestSupport.repo, "fixtures/district-small").path,
            "--admin-token", ADMIN,
        )
        tokens.forEach { (w, t) -> cmd += listOf("--token", "$w:$t") }
        minProtocol?.let { cmd += listOf("--min-protocol", it.toString()) }
        process = ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start()
        val reader = BufferedReader(InputStreamReader(process.inputStream))
        val line = reader.readLine() ?: run {
            process.destroyForcibly()
            error("gridworker-server exited before listening")
        }
        url = line.removePrefix("listening on ").trim()
        check(url.startsWith("http://127.0.0.1:")) { "unexpected first line: $line" }
    }

    /** POSTs a task for [workerId] through the admin API; returns the HTTP status. */
    fun createTask(workerId: String, id: String, title: String): Int = admin("POST", "/admin/v1/tasks",
        """{"id":"$id","worker_id":"$workerId","title":"$title","description":"查看现场"}""")

    /** Moves a report along the back office's closed loop. */
    fun transition(reportId: String, to: String): Int =
        admin("POST", "/admin/v1/reports/$reportId/transition", """{"to":"$to"}""")

    fun admin(method: String, path: String, body: String): Int {
        val req = HttpRequest.newBuilder(URI.create(url + path))
            .header("authorization", "Bearer $ADMIN")
            .header("content-type", "application/json")
            .method(method, HttpRequest.BodyPublishers.ofString(body))
            .build()
        return http.send(req, HttpResponse.BodyHandlers.ofString()).statusCode()
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly()
    }

    companion object {
        const val ADMIN = "admin-kt"
    }
}
