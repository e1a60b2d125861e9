package cn.xuncha.ffi

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The real `xuncha-server` binary, started with demo data on a free loopback port
 * (`serve --demo --no-history --data TMP --bind 127.0.0.1:0`: accounts, no seeded cases); the address and the demo password are read
 * from its stdout. The binary path comes from the system property `xuncha.server.bin`.
 */
class DemoServer private constructor(
    private val process: Process,
    val url: String,
    val password: String,
    val dataDir: File,
) : AutoCloseable {
    /**
     * Revokes [deviceId] as the civil-affairs admin would (a lost phone), through the server's
     * own admin API: the admin signs in over HTTP and calls `POST /api/v1/admin/devices/{id}/revoke`.
     */
    fun revokeDevice(deviceId: String) {
        val http = HttpClient.newHttpClient()
        fun post(path: String, json: String, token: String? = null): HttpResponse<String> {
            val request = HttpRequest.newBuilder(URI.create("$url$path"))
                .header("content-type", "application/json")
                .apply { if (token != null) header("authorization", "Bearer $token") }
                .POST(HttpRequest.BodyPublishers.ofString(json))
                .build()
            return http.send(request, HttpResponse.BodyHandlers.ofString())
        }
        val enrol = post(
            "/api/v1/auth/enrol",
            """{"username":"admin","password":"$password","device_name":"JUnit admin"}""",
        )
        check(enrol.statusCode() == 200) { "admin enrol: ${enrol.statusCode()} ${enrol.body()}" }
        val access = Regex("\"access_token\"\\s*:\\s*\"([^\"]+)\"").find(enrol.body())?.groupValues?.get(1)
            ?: error("no access token in the admin's enrolment answer")
        val revoke = post("/api/v1/admin/devices/$deviceId/revoke", "{}", access)
        check(revoke.statusCode() == 204) { "revoke: ${revoke.statusCode()} ${revoke.body()}" }
    }

    /** `GET path` as the civil-affairs admin, e.g. a photo's upload status: (status, body). */
    fun adminGet(path: String): Pair<Int, String> {
        val http = HttpClient.newHttpClient()
        val enrol = http.send(
            HttpRequest.newBuilder(URI.create("$url/api/v1/auth/enrol"))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("""{"username":"admin","password":"$password","device_name":"JUnit admin"}"""))
                .build(),
            HttpResponse.BodyHandlers.ofString(),
        )
        check(enrol.statusCode() == 200) { "admin enrol: ${enrol.statusCode()} ${enrol.body()}" }
        val access = Regex("\"access_token\"\\s*:\\s*\"([^\"]+)\"").find(enrol.body())?.groupValues?.get(1)
            ?: error("no access token in the admin's enrolment answer")
        val answer = http.send(
            HttpRequest.newBuilder(URI.create("$url$path")).header("authorization", "Bearer $access").GET().build(),
            HttpResponse.BodyHandlers.ofString(),
        )
        return answer.statusCode() to answer.body()
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
        dataDir.deleteRecursively()
    }

    companion object {
        fun start(): DemoServer {
            val bin = System.getProperty("xuncha.server.bin")
                ?: error("system property xuncha.server.bin not set (bindings/scripts/test-bindings.sh sets it)")
            check(File(bin).canExecute()) { "server binary missing: $bin (cargo build -p xuncha-server)" }
            val data = Files.createTempDirectory("xuncha-server-").toFile()
            val log = File(data, "server.log")
            val process = ProcessBuilder(bin, "serve", "--demo", "--no-history", "--data", File(data, "db").path, "--bind", "127.0.0.1:0")
                .redirectError(log)
                .start()
            val lines = LinkedBlockingQueue<String>()
            Thread {
                process.inputStream.bufferedReader().forEachLine { lines.put(it) }
            }.apply { isDaemon = true }.start()
            var password: String? = null
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90)
            while (System.nanoTime() < deadline) {
                val line = lines.poll(1, TimeUnit.SECONDS)
                if (line == null) {
                    check(process.isAlive) { "server exited: ${log.readText().takeLast(2000)}" }
                    continue
                }
                Regex("password for all: (\\S+?)\\)").find(line)?.let { password = it.groupValues[1] }
                Regex("on (http://[0-9.]+:[0-9]+)/").find(line)?.let {
                    return DemoServer(process, it.groupValues[1], checkNotNull(password) { "no demo password printed" }, data)
                }
            }
            process.destroyForcibly()
            error("server did not print its address: ${log.readText().takeLast(2000)}")
        }
    }
}
