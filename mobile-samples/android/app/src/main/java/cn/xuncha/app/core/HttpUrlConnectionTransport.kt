package cn.xuncha.app.core

import cn.xuncha.ffi.HttpBody
import cn.xuncha.ffi.HttpHeader
import cn.xuncha.ffi.HttpMethod
import cn.xuncha.ffi.HttpRequest
import cn.xuncha.ffi.HttpResponse
import cn.xuncha.ffi.HttpTransport
import cn.xuncha.ffi.TransportException
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.withTimeout
import java.io.IOException
import java.io.RandomAccessFile
import java.net.HttpURLConnection
import java.net.Proxy
import java.net.SocketTimeoutException
import java.net.URI
import java.net.UnknownHostException
import javax.net.ssl.HostnameVerifier
import javax.net.ssl.HttpsURLConnection
import javax.net.ssl.SSLException
import javax.net.ssl.SSLSocketFactory

/**
 * The library's HTTP transport over `java.net.HttpURLConnection`: the same class runs on the JVM
 * (tested against the real server, bindings/kotlin) and on Android, where `HttpURLConnection` is
 * the platform's stack (OkHttp inside), so the app gets, with no code of its own:
 * the system trust store with CAs installed by device management, the app's network security
 * config (`res/xml/network_security_config.xml`: private CAs, pinning, cleartext rules), the
 * system proxy and VPN. Chosen over bundling OkHttp from Maven Central: nothing to ship or keep
 * up to date, and the library only ever needs one request at a time.
 *
 * It only moves bytes: a 4xx/5xx is returned as an [HttpResponse]; only "no answer" throws a
 * [TransportException] (`Network`, `Timeout`, `Tls`, `InvalidRequest`, `FileUnreadable`). Retries,
 * `Retry-After` and token refresh are the library's. Cancelling the calling coroutine (the library
 * dropping the request, WorkManager stopping the worker) disconnects the socket.
 *
 * @param sslSocketFactory TLS for `https` URLs; `null` is the platform default. Pass one built on
 *   your own `SSLContext` to trust a private CA or to pin (the JVM tests trust a test CA this way).
 * @param hostnameVerifier with [sslSocketFactory]; `null` is the platform default.
 * @param proxy `null` uses the system's proxy selection.
 * @param readTimeoutMs the most a single read may wait (a stalled upload or answer), in addition
 *   to the library's whole-request timeout; `null` uses the library's request timeout.
 */
class HttpUrlConnectionTransport(
    private val sslSocketFactory: SSLSocketFactory? = null,
    private val hostnameVerifier: HostnameVerifier? = null,
    private val proxy: Proxy? = null,
    private val readTimeoutMs: Int? = null,
    private val dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : HttpTransport {

    override suspend fun send(request: HttpRequest): HttpResponse {
        val connection = open(request)
        return try {
            withTimeout(request.timeoutMs.toLong().coerceAtLeast(1)) {
                coroutineScope {
                    val exchange = async(dispatcher) { exchange(connection, request) }
                    try {
                        exchange.await()
                    } catch (e: CancellationException) {
                        // Unblocks the thread stuck in a socket read or write.
                        connection.disconnect()
                        throw e
                    }
                }
            }
        } catch (e: TimeoutCancellationException) {
            throw TransportException.Timeout("no answer within ${request.timeoutMs} ms: ${request.method} ${path(request.url)}")
        }
    }

    private fun open(request: HttpRequest): HttpURLConnection {
        val url = try {
            URI(request.url).toURL()
        } catch (e: Exception) {
            throw TransportException.InvalidRequest("not a URL: ${e.message}")
        }
        if (url.protocol != "http" && url.protocol != "https") {
            throw TransportException.InvalidRequest("unsupported scheme ${url.protocol}")
        }
        val connection = (if (proxy != null) url.openConnection(proxy) else url.openConnection()) as HttpURLConnection
        if (connection is HttpsURLConnection) {
            sslSocketFactory?.let { connection.sslSocketFactory = it }
            hostnameVerifier?.let { connection.hostnameVerifier = it }
        }
        connection.requestMethod = when (request.method) {
            HttpMethod.GET -> "GET"
            HttpMethod.POST -> "POST"
            HttpMethod.PUT -> "PUT"
        }
        connection.connectTimeout = clampMs(request.connectTimeoutMs)
        connection.readTimeout = readTimeoutMs?.let { minOf(it, clampMs(request.timeoutMs)) } ?: clampMs(request.timeoutMs)
        // A redirect would carry the bearer token to wherever it points: the library never follows one.
        connection.instanceFollowRedirects = false
        connection.useCaches = false
        for (header in request.headers) connection.setRequestProperty(header.name, header.value)
        return connection
    }

    /** Blocking: runs on [dispatcher]. */
    private fun exchange(connection: HttpURLConnection, request: HttpRequest): HttpResponse {
        try {
            when (val body = request.body) {
                is HttpBody.Empty -> if (request.method != HttpMethod.GET) {
                    connection.doOutput = true
                    connection.outputStream.close()
                }
                // Bodies are buffered, never in streaming mode: in streaming mode the JVM's
                // HttpURLConnection hides the body of a 401 (no error stream), and the library
                // needs the server's code to tell an expired token from a revoked device.
                is HttpBody.Bytes -> {
                    connection.doOutput = true
                    connection.outputStream.use { it.write(body.bytes) }
                }
                is HttpBody.FilePart -> {
                    val part = readFilePart(body)
                    connection.doOutput = true
                    connection.outputStream.use { it.write(part) }
                }
            }
            val status = connection.responseCode
            if (status < 0) throw TransportException.Network("not an HTTP answer from ${path(request.url)}")
            val headers = connection.headerFields.flatMap { (name, values) ->
                if (name == null) emptyList() else values.map { HttpHeader(name, it) }
            }
            val stream = if (status >= 400) connection.errorStream else connection.inputStream
            val bytes = stream?.use { it.readBytes() } ?: ByteArray(0)
            return HttpResponse(status.toUShort(), headers, bytes)
        } catch (e: TransportException) {
            connection.disconnect()
            throw e
        } catch (e: SSLException) {
            connection.disconnect()
            throw TransportException.Tls("${e.javaClass.simpleName}: ${e.message}")
        } catch (e: SocketTimeoutException) {
            connection.disconnect()
            throw TransportException.Timeout("${e.message}: ${request.method} ${path(request.url)}")
        } catch (e: UnknownHostException) {
            connection.disconnect()
            throw TransportException.Network("unknown host ${e.message}")
        } catch (e: IOException) {
            connection.disconnect()
            throw TransportException.Network("${e.javaClass.simpleName}: ${e.message}")
        }
    }

    /**
     * Exactly `length` bytes of the file from `offset` (a photo part, 256 KiB by default); a file
     * error is not a network error.
     */
    private fun readFilePart(part: HttpBody.FilePart): ByteArray {
        val length = part.length.toLong()
        if (length > Int.MAX_VALUE) throw TransportException.FileUnreadable("${part.path}: part of $length bytes")
        try {
            RandomAccessFile(part.path, "r").use { file ->
                val end = part.offset.toLong() + length
                if (file.length() < end) {
                    throw TransportException.FileUnreadable("${part.path}: ${file.length()} bytes, part ends at $end")
                }
                file.seek(part.offset.toLong())
                val bytes = ByteArray(length.toInt())
                file.readFully(bytes)
                return bytes
            }
        } catch (e: IOException) {
            throw TransportException.FileUnreadable("${part.path}: ${e.message}")
        }
    }

    private fun clampMs(ms: ULong): Int = ms.coerceAtMost(Int.MAX_VALUE.toULong()).toInt().coerceAtLeast(1)

    /** The URL without its query, for messages (queries carry upload offsets, nothing secret, but keep it short). */
    private fun path(url: String): String = url.substringBefore('?')
}
