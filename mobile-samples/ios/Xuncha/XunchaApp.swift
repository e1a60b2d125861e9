import BackgroundTasks
import SwiftUI
import UIKit

/// Hands iOS's background-upload events (photo parts sent while the app was suspended) to the
/// transport's background URLSession.
final class AppDelegate: NSObject, UIApplicationDelegate {
    func application(_ application: UIApplication, handleEventsForBackgroundURLSession identifier: String,
                     completionHandler: @escaping () -> Void) {
        guard identifier == URLSessionTransport.backgroundIdentifier else { return completionHandler() }
        Task { @MainActor in AppModel.shared.transport.backgroundEventsDone = completionHandler }
    }
}

/// The app: one `XunchaClient` (the Rust store) for the process, BGTaskScheduler for background sync.
@main
struct XunchaApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate
    @StateObject private var model = AppModel.shared

    init() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: AppModel.syncTaskId, using: nil) { task in
            AppModel.shared.handleBackgroundSync(task as! BGProcessingTask)
        }
        AppModel.shared.scheduleBackgroundSync()
    }

    var body: some Scene {
        WindowGroup {
            if model.user == nil {
                SignInView()
                    .environmentObject(model)
            } else {
                NavigationStack {
                    EstateListView()
                }
                .environmentObject(model)
            }
        }
    }
}
