import SwiftUI

struct EstateListView: View {
    @EnvironmentObject var model: AppModel
    @State private var estates: [Estate] = []
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundStyle(.red) }
            ForEach(estates.filter { !$0.exited }, id: \.id) { estate in
                NavigationLink(value: estate.id) {
                    VStack(alignment: .leading) {
                        Text(estate.name).font(.headline)
                        Text("\(estate.district) · \(estate.street) · \(estate.community)").font(.subheadline)
                    }
                }
            }
        }
        .navigationTitle("旧楼区")
        .navigationDestination(for: String.self) { estateId in
            CaptureView(estate: estates.first { $0.id == estateId }!)
        }
        .toolbar { NavigationLink("我的案件") { MyCasesView() } }
        .task(id: model.revision) {
            let client = model.client
            do { estates = try await background { try client.estates() } }
            catch { self.error = messageZh(error) }
        }
    }
}
