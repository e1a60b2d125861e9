package cn.xuncha.ffi

import java.io.BufferedInputStream
import java.io.ByteArrayOutputStream
import java.io.File
import java.io.InputStream
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.URI
import java.nio.file.Files
import java.security.KeyStore
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.KeyManagerFactory
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLSocketFactory
import javax.net.ssl.TrustManagerFactory

/**
 * A small HTTP/1.1 proxy on 127.0.0.1 in front of the real server that injects faults at the
 * application level (this kernel has no netem): one request per connection, forwarded with
 * `Connection: close`. The counters say what it did, so a test can assert the fault happened.
 * With [tls] it terminates TLS with that context (a test certificate) and forwards in plain HTTP.
 */
class FaultProxy(private val upstream: String, tls: SSLContext? = null) : AutoCloseable {
    /** Push answers to lose after the server has stored the batch. */
    val dropPushAnswers = AtomicInteger()
    val droppedPushAnswers = AtomicInteger()
    val pushesForwarded = AtomicInteger()

    /** Photo parts to cut: half the body reaches the server, then no answer for [stallMs]. */
    val stallPhotoParts = AtomicInteger()
    val stalledPhotoParts = AtomicInteger()
    val photoPartsForwarded = AtomicInteger()
    var stallMs = 4_000L

    /** Push requests to answer `503` with `Retry-After: [retryAfterS]` without forwarding. */
    val unavailablePushes = AtomicInteger()
    val unavailableAnswered = AtomicInteger()
    var retryAfterS = 1

    private val server: ServerSocket =
        (tls?.serverSocketFactory?.createServerSocket(0, 50, InetAddress.getLoopbackAddress())
            ?: ServerSocket(0, 50, InetAddress.getLoopbackAddress()))
    val url: String = "${if (tls != null) "https" else "http"}://127.0.0.1:${server.localPort}"

    init {
        Thread {
            while (!server.isClosed) {
                val client = try {
                    server.accept()
                } catch (e: Exception) {
                    break
                }
                Thread { client.use { serve(it) } }.apply { isDaemon = true }.start()
            }
        }.apply { isDaemon = true }.start()
    }

    private class Request(val head: String, val method: String, val path: String, val body: ByteArray)

    private fun serve(client: Socket) {
        val request = try {
            readRequest(BufferedInputStream(client.getInputStream()))
        } catch (e: Exception) {
            return // a TLS handshake the client refused, or a client that went away
        } ?: return
        val push = request.method == "POST" && request.path.startsWith("/api/v1/sync/push")
        val photoPart = request.method == "PUT" && request.path.startsWith("/api/v1/photos/")
        when {
            push && take(unavailablePushes) -> {
                unavailableAnswered.incrementAndGet()
                val body = """{"code":"MAINTENANCE","message":"服务器维护中"}""".toByteArray()
                client.getOutputStream().apply {
                    write(
                        ("HTTP/1.1 503 Service Unavailable\r\nretry-after: $retryAfterS\r\n" +
                            "content-type: application/json\r\ncontent-length: ${body.size}\r\nconnection: close\r\n\r\n").toByteArray(),
                    )
                    write(body)
                    flush()
                }
            }
            photoPart && take(stallPhotoParts) -> {
                // Half the part reaches the server, then the link dies: the server keeps what
                // arrived, the phone hears nothing until its read timeout.
                val half = request.body.copyOf(request.body.size / 2)
                Socket(upstreamHost(), upstreamPort()).use { up ->
                    up.getOutputStream().apply {
                        write(request.head.toByteArray(Charsets.ISO_8859_1))
                        write(half)
                        flush()
                    }
                    Thread.sleep(300)
                }
                stalledPhotoParts.incrementAndGet()
                Thread.sleep(stallMs)
            }
            else -> {
                val answer = forward(request)
                if (push) pushesForwarded.incrementAndGet()
                if (photoPart) photoPartsForwarded.incrementAndGet()
                if (push && take(dropPushAnswers)) {
                    // The server stored the batch; the phone never hears of it.
                    droppedPushAnswers.incrementAndGet()
                    return
                }
                client.getOutputStream().apply {
                    write(answer)
                    flush()
                }
            }
        }
    }

    private fun take(budget: AtomicInteger): Boolean {
        while (true) {
            val left = budget.get()
            if (left <= 0) return false
            if (budget.compareAndSet(left, left - 1)) return true
        }
    }

    private fun upstreamHost(): String = URI(upstream).host
    private fun upstreamPort(): Int = URI(upstream).port

    /** Sends the request to the server and returns its whole answer, rewritten to close. */
    private fun forward(request: Request): ByteArray {
        Socket(upstreamHost(), upstreamPort()).use { up ->
            up.getOutputStream().apply {
                write(request.head.toByteArray(Charsets.ISO_8859_1))
                write(request.body)
                flush()
            }
            val answer = up.getInputStream().readBytes()
            val split = indexOf(answer, "\r\n\r\n".toByteArray())
            check(split >= 0) { "upstream answer without a head" }
            val head = String(answer, 0, split, Charsets.ISO_8859_1)
                .lines()
                .filterNot { it.lowercase().startsWith("connection:") }
                .joinToString("\r\n") + "\r\nconnection: close\r\n\r\n"
            return head.toByteArray(Charsets.ISO_8859_1) + answer.copyOfRange(split + 4, answer.size)
        }
    }

    /** One request: its head (rewritten to `Connection: close`) and its body. */
    private fun readRequest(input: InputStream): Request? {
        val head = ByteArrayOutputStream()
        var matched = 0
        val end = "\r\n\r\n".toByteArray()
        while (matched < 4) {
            val b = input.read()
            if (b < 0) return null
            head.write(b)
            matched = if (b.toByte() == end[matched]) matched + 1 else if (b.toByte() == end[0]) 1 else 0
        }
        val lines = head.toString(Charsets.ISO_8859_1).trimEnd().lines()
        val (method, path) = lines.first().split(" ").let { it[0] to it[1] }
        val length = lines.drop(1)
            .firstOrNull { it.lowercase().startsWith("content-length:") }
            ?.substringAfter(':')?.trim()?.toInt() ?: 0
        val body = input.readNBytes(length)
        val rewritten = (listOf(lines.first()) + lines.drop(1).filterNot { it.lowercase().startsWith("connection:") })
            .joinToString("\r\n") + "\r\nconnection: close\r\n\r\n"
        return Request(rewritten, method, path, body)
    }

    private fun indexOf(haystack: ByteArray, needle: ByteArray): Int {
        outer@ for (i in 0..haystack.size - needle.size) {
            for (j in needle.indices) if (haystack[i + j] != needle[j]) continue@outer
            return i
        }
        return -1
    }

    override fun close() {
        server.close()
    }
}

/**
 * A self-signed certificate for 127.0.0.1 made with the JDK's `keytool`, as a server-side
 * [SSLContext] for [FaultProxy] and a client-side socket factory that trusts only it (a custom
 * trust store, as an app pins a private CA). The JVM's default trust store does not know it.
 */
class TestCertificate private constructor(val server: SSLContext, val clientTrusting: SSLSocketFactory) {
    companion object {
        fun generate(): TestCertificate {
            val dir = Files.createTempDirectory("xuncha-tls-").toFile()
            val store = File(dir, "server.p12")
            val password = "xuncha-test"
            val keytool = File(System.getProperty("java.home"), "bin/keytool").path
            val process = ProcessBuilder(
                keytool, "-genkeypair", "-alias", "xuncha-test", "-keyalg", "EC", "-groupname", "secp256r1",
                "-sigalg", "SHA256withECDSA", "-validity", "2", "-dname", "CN=127.0.0.1, O=Xuncha test",
                "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-keystore", store.path, "-storetype", "PKCS12",
                "-storepass", password, "-keypass", password,
            ).redirectErrorStream(true).start()
            val output = process.inputStream.bufferedReader().readText()
            check(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) { "keytool failed: $output" }

            val keys = KeyStore.getInstance("PKCS12").apply { store.inputStream().use { load(it, password.toCharArray()) } }
            val serverContext = SSLContext.getInstance("TLS").apply {
                val kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm())
                kmf.init(keys, password.toCharArray())
                init(kmf.keyManagers, null, null)
            }
            val trust = KeyStore.getInstance("PKCS12").apply {
                load(null, null)
                setCertificateEntry("xuncha-test", keys.getCertificate("xuncha-test"))
            }
            val clientContext = SSLContext.getInstance("TLS").apply {
                val tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
                tmf.init(trust)
                init(null, tmf.trustManagers, null)
            }
            dir.deleteRecursively()
            return TestCertificate(serverContext, clientContext.socketFactory)
        }
    }
}
