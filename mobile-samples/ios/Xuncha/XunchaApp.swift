import BackgroundTasks
import SwiftUI

/// The app: one `XunchaClient` (the Rust store) for the process, BGTaskScheduler for background sync.
@main
struct XunchaApp: App {
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
