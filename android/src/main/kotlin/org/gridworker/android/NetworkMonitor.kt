package org.gridworker.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import org.gridworker.core.NetworkKind
import org.gridworker.core.SyncEngine

/**
 * Keeps the engine's network kind in step with the default network: Wi-Fi/Ethernet (not
 * metered) → [NetworkKind.WIFI], metered → [NetworkKind.CELLULAR], none → [NetworkKind.NONE].
 * Close it to unregister the callback.
 */
class NetworkMonitor(context: Context, private val engine: SyncEngine) : AutoCloseable {
    private val connectivity = context.getSystemService(ConnectivityManager::class.java)

    /** The default network last reported; callbacks come on one binder thread, in order. */
    @Volatile
    private var current: Network? = null

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
            current = network
            engine.setNetwork(kindOf(caps))
        }

        override fun onLost(network: Network) {
            // A loss of a network that is no longer the default (the Wi-Fi left behind by a
            // handover to cellular, reported late) must not mark the phone offline.
            if (current == null || network == current) {
                current = null
                engine.setNetwork(NetworkKind.NONE)
            }
        }
    }

    init {
        current = connectivity.activeNetwork
        val caps = connectivity.getNetworkCapabilities(current)
        engine.setNetwork(if (caps == null) NetworkKind.NONE else kindOf(caps))
        connectivity.registerDefaultNetworkCallback(callback)
    }

    override fun close() {
        connectivity.unregisterNetworkCallback(callback)
    }

    companion object {
        fun kindOf(caps: NetworkCapabilities): NetworkKind = when {
            !caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET) -> NetworkKind.NONE
            caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) -> NetworkKind.WIFI
            else -> NetworkKind.CELLULAR
        }
    }
}
