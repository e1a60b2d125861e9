package cn.xuncha.ffi

import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The real `xuncha-server` binary, started with demo data on a free loopback port
 * (`serve --demo --data TMP --bind 127.0.0.1:0`); the address and the demo password are read
 * from its stdout. The binary path comes from the system property `xuncha.server.bin`.
 */
class DemoServer private constructor(
    private val process: Process,
    val url: String,
    val password: String,
    val dataDir: File,
) : AutoCloseable {
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
            val process = ProcessBuilder(bin, "serve", "--demo", "--data", File(data, "db").path, "--bind", "127.0.0.1:0")
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
